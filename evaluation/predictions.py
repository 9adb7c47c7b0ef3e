"""The per-sample predictions file (``TEST.SAVE_PREDICTIONS``): one JSON object per line (JSON Lines).

Each line holds the sample's position in the evaluated split (``index``), its image path
(``impath``, ``null`` when the caller of ``process`` gave none), the true and the predicted
class of every level (the predicted path is the run's decoder's, ``TEST.DECODING``), whether each
level is right, and the level's 5 best classes with the decoder's scores. ``pandas.read_json(path,
lines=True)`` or ``[json.loads(line) for line in open(path)]`` reads it; nothing of this project is needed.

The evaluator hands over what it already ranked for top-5 (:class:`SampleLog`), so saving costs
O(N * L * 5) numbers and strings, and nothing when it is off.
"""
from __future__ import annotations

import json
import math
from typing import Optional, Sequence

import torch

from . import metric_spec as spec

__all__ = ["SampleLog", "TOP_K", "predictions_text"]

TOP_K = 5


def _score(value: float) -> Optional[float]:
    """A score as JSON can hold it: 6 significant digits; NaN and infinities become ``null``."""
    return float(f"{value:.6g}") if math.isfinite(value) else None


class SampleLog:
    """What the predictions file needs of each processed sample, batch by batch."""

    def __init__(self) -> None:
        self.impaths: list[Optional[str]] = []
        self.top_values: list[list[torch.Tensor]] = []  # per batch, per level: [B, k] scores
        self.top_indices: list[list[torch.Tensor]] = []  # per batch, per level: [B, k] local class indices
        self.leaf_values: list[torch.Tensor] = []  # any-depth trees: per batch, [B, k] leaf scores
        self.leaf_indices: list[torch.Tensor] = []  # any-depth trees: per batch, [B, k] leaf indices

    def __len__(self) -> int:
        return len(self.impaths)

    def add(self, values: Sequence[torch.Tensor], indices: Sequence[torch.Tensor],
            impaths: Optional[Sequence[str]], batch_size: int,
            leaf: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> None:
        """One batch: the per-level top-k scores and classes, and the image paths (or ``None``).

        ``leaf``: on an any-depth tree, the ``(scores, leaf indices)`` of the top-k leaves, which sit at several levels.
        """
        self.impaths.extend([str(p) for p in impaths] if impaths is not None else [None] * batch_size)
        self.top_values.append([v.float() for v in values])
        self.top_indices.append([i.long() for i in indices])
        if leaf is not None:
            self.leaf_values.append(leaf[0].float())
            self.leaf_indices.append(leaf[1].long())

    def per_level(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(values, indices)``: one ``[N, k]`` tensor per level over all batches."""
        if not self.top_values:
            return [], []
        levels = range(len(self.top_values[0]))
        return ([torch.cat([batch[level] for batch in self.top_values]) for level in levels],
                [torch.cat([batch[level] for batch in self.top_indices]) for level in levels])


def predictions_text(log: SampleLog, preds: torch.Tensor, targets: torch.Tensor, level_names: Sequence[str],
                     names: Sequence[Sequence[str]], pred_leaf: Optional[torch.Tensor] = None,
                     true_leaf: Optional[torch.Tensor] = None, leaf_names: Sequence[str] = ()) -> str:
    """The JSON Lines text of every sample, in processing order.

    ``top5.<level>`` lists ``{"class", "score"}`` best first; a class the decoder rules out (score
    ``-inf``: under ``top_down``, outside the predicted branch) is left out, so a line may list fewer.

    On an any-depth tree (the log holds leaf rankings) ``true`` and ``predicted`` name only the levels
    each path reaches, ``correct`` covers the levels the true path reaches, and ``leaf`` holds the true
    and predicted leaf, whether they agree, and the top-5 leaves.
    """
    if log.leaf_values:
        return _any_depth_text(log, preds, targets, level_names, names, pred_leaf, true_leaf, leaf_names)
    values, indices = log.per_level()
    values = [v.tolist() for v in values]
    indices = [i.tolist() for i in indices]
    preds_list, targets_list = preds.tolist(), targets.tolist()
    lines = []
    for row, impath in enumerate(log.impaths):
        top = {}
        for level, level_name in enumerate(level_names):
            top[level_name] = [{"class": names[level][c], "score": _score(s)}
                               for c, s in zip(indices[level][row], values[level][row]) if s != float("-inf")]
        record = {
            "index": row,
            "impath": impath,
            "true": {name: names[level][targets_list[row][level]] for level, name in enumerate(level_names)},
            "predicted": {name: names[level][preds_list[row][level]] for level, name in enumerate(level_names)},
            "correct": {name: preds_list[row][level] == targets_list[row][level] for level, name in enumerate(level_names)},
            spec.TOP5: top,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def _any_depth_text(log: SampleLog, preds: torch.Tensor, targets: torch.Tensor, level_names: Sequence[str],
                    names: Sequence[Sequence[str]], pred_leaf: Optional[torch.Tensor],
                    true_leaf: Optional[torch.Tensor], leaf_names: Sequence[str]) -> str:
    """:func:`predictions_text` on an any-depth tree (paths padded with -1 below their leaf)."""
    if pred_leaf is None or true_leaf is None:
        raise ValueError("predictions_text: an any-depth tree needs pred_leaf and true_leaf")
    values, indices = log.per_level()
    values, indices = [v.tolist() for v in values], [i.tolist() for i in indices]
    leaf_values, leaf_indices = torch.cat(log.leaf_values).tolist(), torch.cat(log.leaf_indices).tolist()
    preds_list, targets_list = preds.tolist(), targets.tolist()
    pred_leaves, true_leaves = pred_leaf.tolist(), true_leaf.tolist()
    lines = []
    for row, impath in enumerate(log.impaths):
        p, t = preds_list[row], targets_list[row]
        top = {name: [{"class": names[level][c], "score": _score(s)}
                      for c, s in zip(indices[level][row], values[level][row]) if s != float("-inf")]
               for level, name in enumerate(level_names)}
        record = {
            "index": row,
            "impath": impath,
            "true": {name: names[level][t[level]] for level, name in enumerate(level_names) if t[level] >= 0},
            "predicted": {name: names[level][p[level]] for level, name in enumerate(level_names) if p[level] >= 0},
            "correct": {name: p[level] == t[level] for level, name in enumerate(level_names) if t[level] >= 0},
            "leaf": {"true": leaf_names[true_leaves[row]], "predicted": leaf_names[pred_leaves[row]],
                     "correct": pred_leaves[row] == true_leaves[row],
                     spec.TOP5: [{"class": leaf_names[c], "score": _score(s)}
                                 for c, s in zip(leaf_indices[row], leaf_values[row]) if s != float("-inf")]},
            spec.TOP5: top,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)
