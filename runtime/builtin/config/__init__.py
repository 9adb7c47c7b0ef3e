"""Configuration: yacs ``CfgNode`` trees with Dassl's keys and defaults."""
from __future__ import annotations

from yacs.config import CfgNode

from .defaults import _DEFAULTS


def get_cfg_default() -> CfgNode:
    """Return a clone of the defaults, so callers may extend and merge it freely."""
    return _DEFAULTS.clone()


def clean_cfg(cfg: CfgNode, trainer: str) -> None:
    """Drop every ``TRAINER.<X>`` section except ``NAME`` and the one of ``trainer``."""
    for key in list(cfg.TRAINER.keys()):
        if key not in ("NAME", trainer.upper()):
            cfg.TRAINER.pop(key, None)


__all__ = ["CfgNode", "get_cfg_default", "clean_cfg"]
