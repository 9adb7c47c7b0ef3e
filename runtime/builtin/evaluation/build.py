"""The evaluator registry: ``TEST.EVALUATOR`` selects the class."""
from __future__ import annotations

from typing import Any

from yacs.config import CfgNode

from ..utils import Registry, check_availability

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg: CfgNode, **kwargs: Any):
    """Instantiate ``cfg.TEST.EVALUATOR`` as ``cls(cfg, **kwargs)`` (e.g. ``lab2cname=``)."""
    check_availability(cfg.TEST.EVALUATOR, EVALUATOR_REGISTRY.registered_names())
    if cfg.VERBOSE:
        print(f"Loading evaluator: {cfg.TEST.EVALUATOR}")
    return EVALUATOR_REGISTRY.get(cfg.TEST.EVALUATOR)(cfg, **kwargs)
