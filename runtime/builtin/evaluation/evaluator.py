"""EvaluatorBase: the interface every evaluator registered in ``EVALUATOR_REGISTRY`` implements."""
from __future__ import annotations

from collections import OrderedDict

import torch
from yacs.config import CfgNode


class EvaluatorBase:
    """Accumulate model outputs batch by batch (process), then report (evaluate).

    ``evaluate`` returns an OrderedDict whose FIRST value is the one model
    selection compares.
    """

    def __init__(self, cfg: CfgNode) -> None:
        self.cfg = cfg

    def reset(self) -> None:
        raise NotImplementedError

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        raise NotImplementedError

    def evaluate(self) -> "OrderedDict[str, float]":
        raise NotImplementedError
