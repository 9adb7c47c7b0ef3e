"""The ``Hierarchical`` evaluator: per-level, full-path, consistency and severity metrics.

Select it with ``TEST.EVALUATOR = "Hierarchical"`` (the project default). It is a
drop-in Dassl evaluator: ``reset() -> process(mo, gt)* -> evaluate()``, and the
first key of the result is ``accuracy`` (finest-level top-1), which Dassl uses
to select the best epoch. Without a hierarchy it evaluates a flat classifier as
a single level named ``class``, so any Dassl trainer can use it.

Output (Dassl style, so CoOp-style ``parse_test_res.py --keyword <key>`` works):
``=> result``, a per-level table, then ``* total: N`` and ``* <key>: x.x%`` lines.
With ``cfg.OUTPUT_DIR`` set, ``results.json`` (``results_<split>.json`` for a split
other than ``test``) is written atomically.
"""
from __future__ import annotations

import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import torch
from tabulate import tabulate

from hgclip.dassl_compat import EVALUATOR_REGISTRY, EvaluatorBase
from hgclip.hierarchy import Hierarchy
from hgclip.fileio import atomic_write_json

from . import metrics
from .decoding import DECODINGS, level_scores

__all__ = ["Hierarchical", "FLAT_LEVEL_NAME", "TOP5_MIN_CLASSES"]

FLAT_LEVEL_NAME = "class"
TOP5_MIN_CLASSES = 6  # top-5 is only informative when a level has more than 5 classes


@dataclass(frozen=True)
class _Layout:
    """What the accumulated predictions refer to; fixed by the first ``process`` call."""

    level_names: tuple[str, ...]
    level_sizes: tuple[int, ...]
    hierarchy: Optional[Hierarchy]

    @property
    def num_nodes(self) -> int:
        return sum(self.level_sizes)

    def describe(self) -> str:
        return ", ".join(f"{n}={s}" for n, s in zip(self.level_names, self.level_sizes))


def _metric_key(level_name: str) -> str:
    """A level name as a metric-key prefix: no spaces, so ``* <key>: x%`` stays parseable."""
    return re.sub(r"\W+", "_", level_name).strip("_") or "level"


def _cfg_get(cfg: Any, dotted: str, default: Any = None) -> Any:
    """``cfg.A.B`` or ``default`` when any part is missing (the evaluator must not need every key)."""
    node = cfg
    for part in dotted.split("."):
        if node is None or not hasattr(node, part):
            return default
        node = getattr(node, part)
    return node


def _json_number(value: Optional[float]) -> Optional[float]:
    """Round for results.json; NaN (undefined) and ``None`` become ``null``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 4)


@EVALUATOR_REGISTRY.register()
class Hierarchical(EvaluatorBase):
    """Hierarchical classification evaluator.

    Args:
        cfg: the experiment config (uses ``OUTPUT_DIR`` and, for results.json,
            ``TRAINER.NAME``, ``DATASET.*``, ``SEED``, ``MODEL.BACKBONE.NAME``).
        lab2cname: leaf label -> class name (accepted for Dassl compatibility).
        hierarchy: the dataset's :class:`~hierarchy.Hierarchy`; may also be
            attached later with ``evaluator.hierarchy = h`` (before ``process``).
            ``None`` = flat single-level classifier.
        decoding: how all-node logits become per-level predictions, one of
            :data:`evaluation.decoding.DECODINGS` (default ``"independent"``,
            HGCLIP's per-level argmax).

    Attributes:
        split: name of the evaluated split (default ``"test"``), set by the
            trainer; it names the results file and is stored in it.
    """

    def __init__(
        self,
        cfg: Any,
        lab2cname: Optional[dict] = None,
        hierarchy: Optional[Hierarchy] = None,
        decoding: str = "independent",
        **kwargs: Any,
    ):
        super().__init__(cfg)
        if decoding not in DECODINGS:
            raise ValueError(
                f"Hierarchical evaluator: unknown decoding {decoding!r}; expected one of {sorted(DECODINGS)}"
            )
        self.cfg = cfg
        self.lab2cname = lab2cname
        self.hierarchy = hierarchy
        self.decoding = decoding
        self.split = "test"
        self.reset()

    # ------------------------------------------------------------------ accumulation
    def reset(self) -> None:
        """Forget every processed sample (call before evaluating another split)."""
        self._layout: Optional[_Layout] = None
        self._preds: list[torch.Tensor] = []  # [B, L] local predictions per batch
        self._targets: list[torch.Tensor] = []  # [B, L] local targets per batch
        self._top5: list[torch.Tensor] = []  # [B, L] bool, target within the top 5 of its level

    def _layout_for(self, width: int) -> _Layout:
        """The layout implied by the current hierarchy, checked against ``width`` and earlier batches."""
        h = self.hierarchy
        if h is not None:
            layout = _Layout(tuple(h.level_names), tuple(h.level_sizes), h)
            if width != h.num_nodes:
                raise ValueError(
                    f"Hierarchical evaluator: expected logits over num_nodes={h.num_nodes} "
                    f"({layout.describe()}), got width {width}"
                )
        else:
            layout = _Layout((FLAT_LEVEL_NAME,), (width,), None)
        if self._layout is not None and self._layout != layout:
            raise ValueError(
                f"Hierarchical evaluator: this batch has {layout.describe()} but earlier batches had "
                f"{self._layout.describe()}; call reset() after changing the hierarchy"
            )
        return layout

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        """Accumulate one batch.

        Args:
            mo: all-node logits ``[B, num_nodes]`` in the hierarchy's global node
                order (coarse -> fine); ``[B, num_classes]`` in flat mode.
            gt: leaf labels ``[B]``.
        """
        logits = torch.as_tensor(mo).detach().cpu()
        labels = torch.as_tensor(gt).detach().cpu()
        if logits.dim() != 2:
            raise ValueError(
                f"Hierarchical evaluator: expected logits of shape [B, num_nodes], got {tuple(logits.shape)}"
            )
        if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
            raise ValueError(
                f"Hierarchical evaluator: expected {logits.shape[0]} leaf labels of shape [B], "
                f"got {tuple(labels.shape)}"
            )
        layout = self._layout_for(logits.shape[1])
        labels = labels.long()
        num_leaves = layout.level_sizes[-1]
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_leaves):
            raise ValueError(
                f"Hierarchical evaluator: leaf labels must lie in 0..{num_leaves - 1}, "
                f"got range {int(labels.min())}..{int(labels.max())}"
            )

        if layout.hierarchy is not None:
            scores = level_scores(logits, layout.hierarchy, self.decoding)
            targets = layout.hierarchy.level_targets(labels)
        else:
            scores = [logits]
            targets = labels[:, None]
        preds = torch.stack([s.argmax(dim=1) for s in scores], dim=1)
        top5 = torch.stack([metrics.topk_correct(s, targets[:, l], 5) for l, s in enumerate(scores)], dim=1)

        self._layout = layout
        self._preds.append(preds)
        self._targets.append(targets)
        self._top5.append(top5)

    # ------------------------------------------------------------------ results
    def _compute(self) -> tuple[_Layout, "OrderedDict[str, float]", dict]:
        """Metric dict (Dassl order) plus the per-level table for printing and results.json."""
        layout = self._layout
        if layout is None:  # nothing processed: report zeros for the current hierarchy
            h = self.hierarchy
            layout = _Layout((FLAT_LEVEL_NAME,), (0,), None) if h is None else _Layout(
                tuple(h.level_names), tuple(h.level_sizes), h
            )
        num_levels = len(layout.level_names)
        preds = torch.cat(self._preds) if self._preds else torch.zeros(0, num_levels, dtype=torch.long)
        targets = torch.cat(self._targets) if self._targets else torch.zeros(0, num_levels, dtype=torch.long)
        top5 = torch.cat(self._top5) if self._top5 else torch.zeros(0, num_levels, dtype=torch.bool)
        n = preds.shape[0]

        def pct(fraction: float) -> float:
            return 100.0 * fraction

        per_level: dict[str, dict] = {}
        for level, (name, size) in enumerate(zip(layout.level_names, layout.level_sizes)):
            correct = preds[:, level] == targets[:, level]
            top5_hits = top5[:, level]
            per_level[name] = {
                "top1": pct(correct.double().mean().item()) if n else 0.0,
                "top5": None if size < TOP5_MIN_CLASSES else (pct(top5_hits.double().mean().item()) if n else 0.0),
                "macro_f1": pct(metrics.macro_f1(preds[:, level], targets[:, level], num_classes=max(size, 1))),
                "num_classes": size,
            }

        h = layout.hierarchy
        if h is not None:
            lca = h.lca_height_matrix()
            consistency = pct(metrics.path_consistency(preds, h)) if n else 0.0
            severity = metrics.mistake_severity(preds[:, -1], targets[:, -1], h, lca=lca)
            hdist = metrics.hierarchical_distance_at_1(preds[:, -1], targets[:, -1], h, lca=lca)
        else:  # one level: always a valid path; no tree to measure mistakes in
            consistency = 100.0 if n else 0.0
            severity, hdist = math.nan, math.nan

        results: "OrderedDict[str, float]" = OrderedDict()
        results["accuracy"] = per_level[layout.level_names[-1]]["top1"]
        for name in layout.level_names:
            key, row = _metric_key(name), per_level[name]
            results[f"{key}_top1"] = row["top1"]
            if row["top5"] is not None:
                results[f"{key}_top5"] = row["top5"]
            results[f"{key}_macro_f1"] = row["macro_f1"]
        results["full_path_accuracy"] = pct(metrics.full_path_accuracy(preds, targets))
        results["path_consistency"] = consistency
        results["mistake_severity"] = severity
        results["hierarchical_distance_at_1"] = hdist
        results["num_samples"] = n
        return layout, results, per_level

    def evaluate(self) -> "OrderedDict[str, float]":
        """Print the Dassl-style report, write results.json, and return the metrics.

        Keys: ``accuracy`` (finest top-1, the selection metric), then per level
        ``<level>_top1``, ``<level>_top5`` (levels with more than 5 classes only),
        ``<level>_macro_f1``; then ``full_path_accuracy``, ``path_consistency``
        (all in percent), ``mistake_severity`` and ``hierarchical_distance_at_1``
        (LCA heights; NaN when undefined) and ``num_samples``.
        """
        layout, results, per_level = self._compute()
        self._print(layout, results, per_level)
        self._write_json(layout, results, per_level)
        return results

    def _print(self, layout: _Layout, results: "OrderedDict[str, float]", per_level: dict) -> None:
        def height(value: float) -> str:
            return "n/a" if math.isnan(value) else f"{value:.2f}"

        rows = [
            [name, row["num_classes"], row["top1"], row["top5"], row["macro_f1"]] for name, row in per_level.items()
        ]
        headers = ["level", "classes", "top-1 (%)", "top-5 (%)", "macro-F1 (%)"]
        print("=> result")
        print(tabulate(rows, headers=headers, floatfmt=".1f", missingval="-"))
        print(
            f"full path: {results['full_path_accuracy']:.1f}% | consistent path: {results['path_consistency']:.1f}% | "
            f"mistake severity: {height(results['mistake_severity'])} | "
            f"hier. distance@1: {height(results['hierarchical_distance_at_1'])}"
        )
        print(f"* total: {results['num_samples']:,}")
        for key, value in results.items():
            if key == "num_samples":
                continue
            if key in ("mistake_severity", "hierarchical_distance_at_1"):  # heights, not percentages
                if not math.isnan(value):
                    print(f"* {key}: {value:.2f}")
            else:
                print(f"* {key}: {value:.1f}%")

    def _write_json(self, layout: _Layout, results: "OrderedDict[str, float]", per_level: dict) -> None:
        output_dir = _cfg_get(self.cfg, "OUTPUT_DIR", "") or ""
        if not output_dir:
            return
        split = self.split or "test"
        filename = "results.json" if split == "test" else f"results_{split}.json"
        payload = {
            "trainer": _cfg_get(self.cfg, "TRAINER.NAME", ""),
            "dataset": _cfg_get(self.cfg, "DATASET.NAME", ""),
            "subsample": _cfg_get(self.cfg, "DATASET.SUBSAMPLE_CLASSES", "all"),
            "seed": _cfg_get(self.cfg, "SEED", None),
            "num_shots": _cfg_get(self.cfg, "DATASET.NUM_SHOTS", None),
            "backbone": _cfg_get(self.cfg, "MODEL.BACKBONE.NAME", ""),
            "split": split,
            "decoding": self.decoding if layout.hierarchy is not None else "independent",
            "levels": list(layout.level_names),
            "num_samples": results["num_samples"],
            "accuracy": _json_number(results["accuracy"]),
            "per_level": {
                name: {
                    "top1": _json_number(row["top1"]),
                    "top5": _json_number(row["top5"]),
                    "macro_f1": _json_number(row["macro_f1"]),
                    "num_classes": row["num_classes"],
                }
                for name, row in per_level.items()
            },
            "full_path_accuracy": _json_number(results["full_path_accuracy"]),
            "path_consistency": _json_number(results["path_consistency"]),
            "mistake_severity": _json_number(results["mistake_severity"]),
            "hierarchical_distance_at_1": _json_number(results["hierarchical_distance_at_1"]),
        }
        payload.update(getattr(self, "run_info", None) or {})  # set by the trainer: num_shots_used, num_processes
        atomic_write_json(os.path.join(output_dir, filename), payload)
