"""The trainer registry: ``TRAINER.NAME`` selects the trainer class."""
from __future__ import annotations

from yacs.config import CfgNode

from ..utils import Registry, check_availability

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg: CfgNode):
    """Instantiate the trainer class named ``cfg.TRAINER.NAME`` with ``cfg``."""
    check_availability(cfg.TRAINER.NAME, TRAINER_REGISTRY.registered_names())
    if cfg.VERBOSE:
        print(f"Loading trainer: {cfg.TRAINER.NAME}")
    return TRAINER_REGISTRY.get(cfg.TRAINER.NAME)(cfg)
