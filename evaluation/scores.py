"""What one evaluation computed, handed from the evaluator (``hierarchical.py``) to its report (``run_report.py``)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch

from ..hierarchy import Hierarchy
from .predictions import SampleLog

__all__ = ["Layout", "Scores", "class_names"]


@dataclass(frozen=True)
class Layout:
    """What the accumulated predictions refer to; fixed by the evaluator's first ``process`` call."""

    level_names: tuple[str, ...]
    level_sizes: tuple[int, ...]
    hierarchy: Optional[Hierarchy]

    @property
    def num_nodes(self) -> int:
        return sum(self.level_sizes)

    def describe(self) -> str:
        return ", ".join(f"{n}={s}" for n, s in zip(self.level_names, self.level_sizes))


def class_names(layout: Layout, lab2cname: Optional[dict] = None) -> list[list[str]]:
    """The class names of each level in index order: the hierarchy's, or ``lab2cname`` (else the index) when flat."""
    if layout.hierarchy is not None:
        return [layout.hierarchy.names_at_level(level) for level in range(len(layout.level_names))]
    names = lab2cname or {}
    return [[str(names.get(i, i)) for i in range(layout.level_sizes[0])]]


@dataclass
class Scores:
    """The numbers of one evaluation.

    Attributes:
        layout: the levels the numbers refer to.
        returned: the Dassl-facing metrics (``metric_spec.RETURNED_KEYS`` with the per-level keys).
        tree: the tree metrics (``metric_spec.TREE_METRIC_KEYS``); empty without ``tree_metrics``.
        per_level: ``{level: {top1, top5, macro_f1, num_classes}}`` in percent (top5 None when undefined).
        tree_cuts: what results.json records about the tree cuts (empty without ``tree_metrics``).
        preds, targets: ``[N, L]`` local per-level predictions and targets (for confusions.json).
        class_names: the class names of each level, in index order.
        per_class: ``per_class.per_class_accuracy`` of the levels (``TEST.PER_CLASS_RESULT``), else empty.
        samples: the per-sample top-5 log (``TEST.SAVE_PREDICTIONS``), else None.
        pred_leaf, true_leaf: ``[N]`` predicted and true leaf; on an any-depth tree the predicted leaf is
            not ``preds[:, -1]`` (paths stop at their leaf, -1 below).
    """

    layout: Layout
    returned: "OrderedDict[str, float]"
    tree: "OrderedDict[str, float]"
    per_level: dict
    tree_cuts: dict
    preds: torch.Tensor
    targets: torch.Tensor
    class_names: Sequence[Sequence[str]] = ()
    per_class: dict = field(default_factory=dict)
    samples: Optional[SampleLog] = None
    pred_leaf: Optional[torch.Tensor] = None
    true_leaf: Optional[torch.Tensor] = None

    @property
    def all_metrics(self) -> "OrderedDict[str, float]":
        """The returned metrics, then the tree metrics (the evaluator's ``last_results``)."""
        return OrderedDict(list(self.returned.items()) + list(self.tree.items()))
