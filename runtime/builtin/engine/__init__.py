"""Trainers: the registry and ``build_trainer`` (this project's trainers own their life cycle: :mod:`hgclip.engine.trainer`)."""
from .build import TRAINER_REGISTRY, build_trainer

__all__ = ["TRAINER_REGISTRY", "build_trainer"]
