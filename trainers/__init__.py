"""Hierarchical CLIP trainers; importing this package registers them in Dassl's TRAINER_REGISTRY."""
from . import coop, hgclip, ivlp, zsclip  # noqa: F401  (registration side effects)
from . import cocoop, kgcoop, maple, promptsrc, vpt  # noqa: F401  (baselines)
from .base import HierarchicalCLIPTrainer

__all__ = ["HierarchicalCLIPTrainer"]
