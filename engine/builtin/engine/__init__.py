"""Trainers: the registry, build_trainer and the base classes methods subclass."""
from .build import TRAINER_REGISTRY, build_trainer  # isort:skip
from .trainer import SimpleTrainer, TrainerBase, TrainerX

__all__ = ["TRAINER_REGISTRY", "build_trainer", "TrainerBase", "SimpleTrainer", "TrainerX"]
