"""One level's columns on a tree whose leaves sit at different depths: which samples count, and "no prediction".

On an any-depth tree a true path stops at its leaf and a predicted path at the predicted leaf, both padded
with -1 below. A level is scored over the samples whose TRUE path reaches it; there a prediction of -1 (the
predicted path stopped above) is a mistake, named :data:`NO_PREDICTION` and counted as class ``size``
of the level (one past its last class), so the per-level tables, confusions and per-class counts stay exact.
On a fixed-level tree every sample reaches every level and nothing here changes a number.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from . import metric_spec as spec
from .metrics import macro_f1

NO_PREDICTION = "(stopped above)"


def reached(pred: torch.Tensor, target: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pred, target)`` of the samples whose true path reaches the level; a -1 prediction becomes ``size``."""
    p, t = torch.as_tensor(pred).long(), torch.as_tensor(target).long()
    keep = t >= 0
    p = p[keep]
    return torch.where(p < 0, size, p), t[keep]


def any_depth_level_row(pred: torch.Tensor, target: torch.Tensor, top5: torch.Tensor, size: int,
                        top5_min_classes: int) -> dict:
    """One level's ``{top1, top5, macro_f1, num_classes}`` in percent over the samples that reach it (NaN if none)."""
    keep = torch.as_tensor(target).long() >= 0
    p, t = reached(pred, target, size)
    n = int(t.numel())
    top5_value: Optional[float] = None
    if size >= top5_min_classes:
        top5_value = 100.0 * top5[keep].double().mean().item() if n else math.nan
    return {
        spec.TOP1: 100.0 * (p == t).double().mean().item() if n else math.nan,
        spec.TOP5: top5_value,
        spec.MACRO_F1: 100.0 * macro_f1(p, t, num_classes=size + 1) if n else math.nan,
        spec.NUM_CLASSES: size,
    }
