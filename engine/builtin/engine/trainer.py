"""Dassl's ``engine/trainer.py`` import path: the three trainer base classes."""
from .base import TrainerBase
from .simple import SimpleTrainer
from .trainer_x import TrainerX

__all__ = ["TrainerBase", "SimpleTrainer", "TrainerX"]
