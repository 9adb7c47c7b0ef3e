"""The most-confused (true, predicted) pairs of each level: which mistakes a model makes most.

A per-level table of the largest off-diagonal confusion-matrix entries, with names, so a
run can be read without re-running it (``confusions.json`` beside ``results.json``). It
never builds the C x C matrix: the mistakes are encoded as ``true * C + predicted`` and
counted with ``torch.unique``, so memory is O(N) even for thousands of classes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from .any_depth_levels import NO_PREDICTION, reached
from .metric_spec import NUM_SAMPLES

if TYPE_CHECKING:
    from ..hierarchy import Hierarchy

__all__ = ["most_confused", "confusion_summary", "leaf_confusions"]


def most_confused(pred: torch.Tensor, target: torch.Tensor, num_classes: int, top_k: int = 10) -> list[dict]:
    """The ``top_k`` most frequent mistakes ``{"true", "predicted", "count"}`` of one level.

    Sorted by count (descending), then by true and predicted index (ascending), so the
    order is deterministic under ties. Correct predictions are not pairs.
    """
    if top_k < 0:
        raise ValueError(f"TEST.CONFUSIONS_TOP_K: expected a number of pairs >= 0, got {top_k}")
    p, t = torch.as_tensor(pred).long(), torch.as_tensor(target).long()
    wrong = p != t
    if not bool(wrong.any()) or top_k == 0:
        return []
    codes, counts = torch.unique(t[wrong] * num_classes + p[wrong], sorted=True, return_counts=True)
    order = torch.argsort(-counts, stable=True)[:top_k]  # codes ascending within equal counts
    return [
        {"true": int(code) // num_classes, "predicted": int(code) % num_classes, "count": int(count)}
        for code, count in zip(codes[order].tolist(), counts[order].tolist())
    ]


def confusion_summary(
    preds: torch.Tensor,
    targets: torch.Tensor,
    level_names: Sequence[str],
    level_sizes: Sequence[int],
    names: Sequence[Sequence[str]],
    top_k: int = 10,
) -> dict:
    """``{level: {"num_samples", "num_mistakes", "pairs": [...]}}`` for ``confusions.json``.

    Each pair has ``true``, ``true_name``, ``predicted``, ``predicted_name``, ``count`` and
    ``share_of_true`` (percent of that true class's samples predicted as ``predicted``).
    ``preds`` / ``targets`` are ``[N, L]`` local indices; ``names[l]`` names level l's classes. On an
    any-depth tree (-1 below a path's leaf) a level counts the samples whose true path reaches it, and a
    predicted path that stopped above it is the class ``NO_PREDICTION``.
    """
    summary = {}
    for level, (name, size) in enumerate(zip(level_names, level_sizes)):
        p, t = reached(preds[:, level], targets[:, level], size)  # an any-depth tree's -1s: see any_depth_levels
        per_class = torch.bincount(t, minlength=max(size, 1))
        pairs = most_confused(p, t, max(size, 1) + int(bool((p == size).any())), top_k)
        level_classes = list(names[level]) + [NO_PREDICTION]
        for pair in pairs:
            pair["true_name"] = level_classes[pair["true"]]
            pair["predicted_name"] = level_classes[pair["predicted"]]
            pair["share_of_true"] = round(100.0 * pair["count"] / int(per_class[pair["true"]]), 4)
        summary[name] = {
            NUM_SAMPLES: int(t.numel()),
            "num_mistakes": int((p != t).sum()),
            "pairs": [
                {key: pair[key] for key in ("true", "true_name", "predicted", "predicted_name", "count", "share_of_true")}
                for pair in pairs
            ],
        }
    return summary


def leaf_confusions(pred_leaf: torch.Tensor, true_leaf: torch.Tensor, hierarchy: "Hierarchy", top_k: int = 10) -> dict:
    """The ``top_k`` most confused (true leaf, predicted leaf) pairs with their lowest common ancestor.

    For trees whose leaves sit at several depths, where no one level holds every leaf. Each pair has
    ``true_name``, ``predicted_name``, ``count``, ``share_of_true``, ``lca`` (its name; ``None`` for the
    root), ``lca_depth`` (0 for the root) and ``lca_height`` (the number of levels minus the LCA's
    depth: the mistake severity of the pair).
    """
    p, t = torch.as_tensor(pred_leaf).long(), torch.as_tensor(true_leaf).long()
    per_class = torch.bincount(t, minlength=hierarchy.num_leaves)
    pairs = []
    for pair in most_confused(p, t, hierarchy.num_leaves, top_k):
        true, predicted = pair["true"], pair["predicted"]
        lca = hierarchy.lca(hierarchy.leaf_nodes[true], hierarchy.leaf_nodes[predicted])
        pairs.append({
            "true": true, "true_name": hierarchy.leaf_names[true],
            "predicted": predicted, "predicted_name": hierarchy.leaf_names[predicted],
            "count": pair["count"], "share_of_true": round(100.0 * pair["count"] / int(per_class[true]), 4),
            "lca": None if lca < 0 else hierarchy.node_names[lca],
            "lca_depth": 0 if lca < 0 else hierarchy.node_depths[lca],
            "lca_height": hierarchy.lca_height(true, predicted),
        })
    return {NUM_SAMPLES: int(t.numel()), "num_mistakes": int((p != t).sum()), "pairs": pairs}
