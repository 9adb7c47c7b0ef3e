"""Metric functions for flat and hierarchical classification.

All functions are pure and vectorised: they take tensors (or anything
``torch.as_tensor`` accepts, e.g. numpy arrays or lists) and return a bool
tensor or a Python float. Accuracy-like results are FRACTIONS in [0, 1]; the
evaluator turns them into percentages, as Dassl reports them.

Notation (see ``shared/reference/metrics.md``): N samples, C classes, L levels
ordered coarse -> fine; per-level predictions and targets are LOCAL indices
(within their level), the last column being the leaf.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

import torch

if TYPE_CHECKING:  # only for type hints; metrics never need the class itself
    from hgclip.hierarchy import Hierarchy

__all__ = [
    "topk_correct",
    "topk_accuracy",
    "macro_f1",
    "full_path_accuracy",
    "path_consistency",
    "consistent_mask",
    "mistake_severity",
    "hierarchical_distance_at_1",
    "hierarchical_distance_at_k",
]


def _long(x: Any, name: str, ndim: int) -> torch.Tensor:
    """Return ``x`` as a CPU int64 tensor with ``ndim`` dims, or raise a one-line error."""
    t = torch.as_tensor(x).detach().cpu()
    if t.dim() != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D tensor, got shape {tuple(t.shape)}")
    if t.numel() and (t.dtype.is_floating_point or t.dtype == torch.bool):
        raise ValueError(f"{name}: expected integer class indices, got dtype {t.dtype}")
    return t.long()


def _same_shape(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")


def topk_correct(logits: Any, targets: Any, k: int = 1) -> torch.Tensor:
    """Bool tensor [N]: is ``targets[i]`` among the ``k`` highest scores of ``logits[i]``?

    acc@k = (1/N) sum_i 1[y_i in topk(f(x_i))]. ``k`` is clamped to the number of
    classes, so top-5 over 3 classes is always right (the evaluator therefore
    only reports top-5 for levels with more than 5 classes).
    """
    scores = torch.as_tensor(logits).detach().cpu()
    if scores.dim() != 2:
        raise ValueError(f"logits: expected shape [N, C], got {tuple(scores.shape)}")
    y = _long(targets, "targets", 1)
    if y.shape[0] != scores.shape[0]:
        raise ValueError(f"targets: expected {scores.shape[0]} labels (one per logits row), got {y.shape[0]}")
    if k < 1:
        raise ValueError(f"k: expected k >= 1, got {k}")
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return (top == y[:, None]).any(dim=1)


def topk_accuracy(logits: Any, targets: Any, k: int = 1) -> float:
    """Fraction of samples whose target is in the top ``k`` (0.0 for an empty batch)."""
    hits = topk_correct(logits, targets, k)
    return hits.double().mean().item() if hits.numel() else 0.0


def macro_f1(pred: Any, target: Any, num_classes: Optional[int] = None) -> float:
    """Mean per-class F1 over the classes PRESENT IN THE GROUND TRUTH (Dassl's convention).

    F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c), which equals 2PR/(P+R) and is 0 when
    TP_c = 0. Classes that are only predicted (never true) are not averaged in;
    a wrong prediction still costs its true class a false negative. This is what
    ``sklearn.metrics.f1_score(average="macro", labels=np.unique(y_true))`` computes.
    Returns 0.0 for empty input.
    """
    p = _long(pred, "pred", 1)
    t = _long(target, "target", 1)
    _same_shape(p, t, "macro_f1(pred, target)")
    if t.numel() == 0:
        return 0.0
    n = int(max(p.max().item(), t.max().item())) + 1
    if num_classes is not None:
        if n > num_classes:
            raise ValueError(f"macro_f1: label {n - 1} out of range for num_classes={num_classes}")
        n = num_classes
    tp = torch.bincount(t[p == t], minlength=n).double()
    n_pred = torch.bincount(p, minlength=n).double()
    n_true = torch.bincount(t, minlength=n).double()
    present = n_true > 0
    # 2TP + FP + FN = n_pred + n_true, which is > 0 for every present class.
    f1 = 2.0 * tp[present] / (n_pred[present] + n_true[present])
    return f1.mean().item()


def full_path_accuracy(preds: Any, targets: Any) -> float:
    """Fraction of samples predicted correctly at EVERY level (FPA; HCA with one classifier per level).

    ``preds`` and ``targets`` are [N, L] local indices. Leaf accuracy is an upper bound.
    """
    p = _long(preds, "preds", 2)
    t = _long(targets, "targets", 2)
    _same_shape(p, t, "full_path_accuracy(preds, targets)")
    if p.shape[0] == 0:
        return 0.0
    return (p == t).all(dim=1).double().mean().item()


def consistent_mask(preds: Any, hierarchy: "Hierarchy") -> torch.Tensor:
    """Bool tensor [N]: do the per-level predictions form a valid root-to-leaf path?

    The predicted leaf fixes one path (``hierarchy.ancestors[leaf]``); the sample is
    consistent when every coarser prediction equals that path's node at its level.
    Correctness is irrelevant: a wrong but coherent path is consistent.
    """
    p = _long(preds, "preds", 2)
    if p.shape[1] != hierarchy.num_levels:
        raise ValueError(
            f"preds: expected {hierarchy.num_levels} columns (levels {list(hierarchy.level_names)}), got {p.shape[1]}"
        )
    ancestors = torch.as_tensor(hierarchy.ancestors).long()
    path_of_leaf = ancestors[p[:, -1]]  # [N, L]
    return (path_of_leaf[:, :-1] == p[:, :-1]).all(dim=1)


def path_consistency(preds: Any, hierarchy: "Hierarchy") -> float:
    """Fraction of samples whose per-level predictions form a valid path (= 1 - TICE).

    Always 1.0 for a single-level hierarchy. Returns 0.0 for empty input.
    """
    mask = consistent_mask(preds, hierarchy)
    return mask.double().mean().item() if mask.numel() else 0.0


def _lca(hierarchy: "Hierarchy", lca: Optional[torch.Tensor]) -> torch.Tensor:
    return torch.as_tensor(lca if lca is not None else hierarchy.lca_height_matrix()).long()


def mistake_severity(
    pred_leaf: Any, true_leaf: Any, hierarchy: "Hierarchy", lca: Optional[torch.Tensor] = None
) -> float:
    """Average mistake severity (Bertinetto et al., CVPR 2020).

    Mean of h(LCA(y_i, y_hat_i)) -- the height of the lowest common ancestor above
    the leaves -- over the MISCLASSIFIED samples only. 1 = sibling mistake,
    L = the two leaves share only the virtual root. NaN when there is no mistake
    (the mean over an empty set is undefined). ``lca`` may pass a precomputed
    ``hierarchy.lca_height_matrix()`` to avoid recomputing it.
    """
    p = _long(pred_leaf, "pred_leaf", 1)
    t = _long(true_leaf, "true_leaf", 1)
    _same_shape(p, t, "mistake_severity(pred_leaf, true_leaf)")
    wrong = p != t
    if not bool(wrong.any()):
        return math.nan
    return _lca(hierarchy, lca)[t[wrong], p[wrong]].double().mean().item()


def hierarchical_distance_at_1(
    pred_leaf: Any, true_leaf: Any, hierarchy: "Hierarchy", lca: Optional[torch.Tensor] = None
) -> float:
    """Average hierarchical distance @1: mean h(LCA(y_i, y_hat_i)) over ALL samples (correct ones count 0)."""
    p = _long(pred_leaf, "pred_leaf", 1)
    t = _long(true_leaf, "true_leaf", 1)
    _same_shape(p, t, "hierarchical_distance_at_1(pred_leaf, true_leaf)")
    if t.numel() == 0:
        return 0.0
    return _lca(hierarchy, lca)[t, p].double().mean().item()


def hierarchical_distance_at_k(
    leaf_scores: Any, true_leaf: Any, hierarchy: "Hierarchy", k: int = 5, lca: Optional[torch.Tensor] = None
) -> float:
    """Average hierarchical distance @k: (1/N) sum_i (1/k) sum_{r<=k} h(LCA(y_i, y_hat_i^(r))).

    ``leaf_scores`` is [N, num_leaves]; ``k`` is clamped to the number of leaves.
    """
    scores = torch.as_tensor(leaf_scores).detach().cpu()
    if scores.dim() != 2:
        raise ValueError(f"leaf_scores: expected shape [N, num_leaves], got {tuple(scores.shape)}")
    t = _long(true_leaf, "true_leaf", 1)
    if t.numel() == 0:
        return 0.0
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices  # [N, k]
    return _lca(hierarchy, lca)[t[:, None], top].double().mean().item()
