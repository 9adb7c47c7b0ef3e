"""Metric functions for flat and hierarchical classification.

All functions are pure and vectorised: they take tensors (or anything
``torch.as_tensor`` accepts, e.g. numpy arrays or lists) and return a bool
tensor or a Python float. Accuracy-like results are FRACTIONS in [0, 1]; the
evaluator turns them into percentages, as Dassl reports them.

Notation (see ``shared/reference/metrics.md``): N samples, C classes, L levels
ordered coarse -> fine; per-level predictions and targets are LOCAL indices
(within their level), the last column being the leaf. Every function without a leading
underscore is public (no ``__all__``: several functions share their name with the metric key
they compute, and the keys are spelled in ``metric_spec.py`` alone).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

import torch

from ..hierarchy.cuts import node_ancestors

if TYPE_CHECKING:  # only for type hints; metrics never need the class itself
    from ..hierarchy import Hierarchy


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


def topk_predictions(logits: Any, targets: Any, k: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(hit [N] bool, values [N, k], indices [N, k])`` of the ``k`` highest scores per row.

    The shared core of :func:`topk_correct` and the ranked hierarchical distance, so the
    evaluator ranks each level once. See :func:`topk_correct` for the rules.
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
    top = scores.topk(k, dim=1)
    match = top.indices == y[:, None]
    if scores.dtype.is_floating_point:
        match &= top.values > float("-inf")  # the target's own score, where it was ranked
    return match.any(dim=1), top.values, top.indices


def topk_correct(logits: Any, targets: Any, k: int = 1) -> torch.Tensor:
    """Bool tensor [N]: is ``targets[i]`` among the ``k`` highest scores of ``logits[i]``?

    acc@k = (1/N) sum_i 1[y_i in topk(f(x_i))]. ``k`` is clamped to the number of
    classes, so top-5 over 3 classes is always right (the evaluator therefore
    only reports top-5 for levels with more than 5 classes).

    Only finite scores count: a target scored ``-inf`` (ruled out, e.g. by
    ``top_down`` decoding) or NaN is never a hit, even when ties among the
    ``-inf`` scores put it among the ``k`` returned indices.
    """
    return topk_predictions(logits, targets, k)[0]


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
    On an any-depth tree both are padded with -1 below their leaf, so a sample counts when
    the predicted path IS the true path (same nodes, same length).
    """
    p = _long(preds, "preds", 2)
    t = _long(targets, "targets", 2)
    _same_shape(p, t, "full_path_accuracy(preds, targets)")
    if p.shape[0] == 0:
        return 0.0
    return (p == t).all(dim=1).double().mean().item()


def consistent_mask(preds: Any, hierarchy: "Hierarchy", pred_leaf: Any = None) -> torch.Tensor:
    """Bool tensor [N]: do the per-level predictions form a valid root-to-leaf path?

    On an any-depth tree the predicted leaf is given (``pred_leaf``, leaf indices) and the
    per-level predictions (-1 below the levels they reach) must be exactly its path.

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
    if getattr(hierarchy, "ragged", False):
        if pred_leaf is None:
            raise ValueError("consistent_mask: an any-depth tree needs pred_leaf (leaf indices)")
        return (ancestors[_long(pred_leaf, "pred_leaf", 1)] == p).all(dim=1)
    path_of_leaf = ancestors[p[:, -1]]  # [N, L]
    return (path_of_leaf[:, :-1] == p[:, :-1]).all(dim=1)


def path_consistency(preds: Any, hierarchy: "Hierarchy", pred_leaf: Any = None) -> float:
    """Fraction of samples whose per-level predictions form a valid path (= 1 - TICE).

    Always 1.0 for a single-level hierarchy. Returns 0.0 for empty input.
    """
    mask = consistent_mask(preds, hierarchy, pred_leaf)
    return mask.double().mean().item() if mask.numel() else 0.0


def _lca(hierarchy: "Hierarchy", lca: Optional[torch.Tensor]) -> torch.Tensor:
    return torch.as_tensor(lca if lca is not None else hierarchy.lca_height_matrix()).long()


def mistake_severity(
    pred_leaf: Any, true_leaf: Any, hierarchy: "Hierarchy", lca: Optional[torch.Tensor] = None
) -> float:
    """Average mistake severity (Bertinetto et al., CVPR 2020).

    Mean of h(LCA(y_i, y_hat_i)) -- the height of the lowest common ancestor above
    the leaves (on any tree: L minus the LCA's depth) -- over the MISCLASSIFIED samples only. 1 = sibling mistake,
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


def lca_heights(leaf_a: Any, leaf_b: Any, hierarchy: "Hierarchy") -> torch.Tensor:
    """h(LCA(a, b)) for broadcastable tensors of leaf indices, without the [num_leaves]^2 matrix.

    The height is ``num_levels`` minus the number of leading levels on which the two
    root-to-leaf paths agree (0 = same leaf, 1 = siblings, L = only the root shared).
    Memory is O(numel * L), so it also works for hierarchies with many leaves. On an any-depth
    tree this is the same formula, L minus the LCA's depth, which is what Bertinetto et al. publish
    as their distances on their WordNet trees (``Hierarchy.leaf_lca_heights``).
    """
    ancestors = torch.as_tensor(hierarchy.ancestors).long()
    a, b = torch.as_tensor(leaf_a).long(), torch.as_tensor(leaf_b).long()
    same = ancestors[a] == ancestors[b]  # [..., L]
    return hierarchy.num_levels - same.long().cumprod(dim=-1).sum(dim=-1)


def ranked_hierarchical_distance(
    values: torch.Tensor, indices: torch.Tensor, true_leaf: Any, hierarchy: "Hierarchy"
) -> torch.Tensor:
    """Per-sample mean h(LCA(y_i, .)) over ranked leaf predictions ``indices`` [N, k] whose ``values`` are finite.

    Float64 [N]; a row without any finite prediction (impossible for finite logits) counts 0.
    """
    t = _long(true_leaf, "true_leaf", 1)
    ranked = values > float("-inf")  # NaN and -inf are not predictions
    heights = lca_heights(t[:, None], indices, hierarchy).double()
    return (heights * ranked).sum(dim=1) / ranked.sum(dim=1).clamp(min=1)


def hierarchical_distance_topk(leaf_scores: Any, true_leaf: Any, hierarchy: "Hierarchy", k: int = 5) -> torch.Tensor:
    """Per-sample (1/k_i) sum_{r<=k_i} h(LCA(y_i, y_hat_i^(r))), float64 [N].

    ``k_i = min(k, number of finite scores of row i)``: a leaf scored ``-inf`` (ruled out
    by the decoding) is not a prediction, so ``top_down`` -- which ranks only the
    children of its predicted parent -- is averaged over the leaves it ranks. Ties
    among finite scores follow ``torch.topk``.
    """
    t = _long(true_leaf, "true_leaf", 1)
    scores = torch.as_tensor(leaf_scores).detach().cpu()
    if scores.dim() != 2:
        raise ValueError(f"leaf_scores: expected shape [N, num_leaves], got {tuple(scores.shape)}")
    if t.numel() == 0:
        return torch.zeros(0, dtype=torch.float64)
    _, values, indices = topk_predictions(scores.float(), t, k)
    return ranked_hierarchical_distance(values, indices, t, hierarchy)


def hierarchical_distance_at_k(
    leaf_scores: Any, true_leaf: Any, hierarchy: "Hierarchy", k: int = 5, lca: Optional[torch.Tensor] = None
) -> float:
    """Average hierarchical distance @k: (1/N) sum_i (1/k) sum_{r<=k} h(LCA(y_i, y_hat_i^(r))).

    ``leaf_scores`` is [N, num_leaves]; ``k`` is clamped to the number of leaves, and
    only finite scores are predictions (see :func:`hierarchical_distance_topk`).
    ``lca`` is accepted for backward compatibility and no longer needed.
    """
    per_sample = hierarchical_distance_topk(leaf_scores, true_leaf, hierarchy, k)
    return per_sample.mean().item() if per_sample.numel() else 0.0


_PARENTS_CACHE: dict[int, tuple] = {}  # id(hierarchy) -> (hierarchy, tables); by identity: hashing one hashes every path


def _level_parents(hierarchy: "Hierarchy") -> tuple[torch.Tensor, ...]:
    entry = _PARENTS_CACHE.get(id(hierarchy))
    if entry is not None and entry[0] is hierarchy:
        return entry[1]
    parents = torch.tensor(hierarchy.parents, dtype=torch.long)
    tables = [torch.full((hierarchy.level_sizes[0],), -1, dtype=torch.long)]
    for level in range(1, hierarchy.num_levels):
        tables.append(parents[hierarchy.level_slices[level]] - hierarchy.level_offsets[level - 1])
    if len(_PARENTS_CACHE) >= 16:
        _PARENTS_CACHE.clear()
    _PARENTS_CACHE[id(hierarchy)] = (hierarchy, tuple(tables))
    return tuple(tables)


def level_parents(hierarchy: "Hierarchy", level: int) -> torch.Tensor:
    """Local index (at ``level - 1``) of the parent of every node at ``level`` (-1 at level 0); cached."""
    return _level_parents(hierarchy)[level]


def hierarchical_consistent_mask(
    level_scores: list, targets: Any, hierarchy: "Hierarchy", leaf_pred: Optional[torch.Tensor] = None,
    leaf_scores: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Bool [N]: is sample i right at every classification on its ground-truth path (ProTeCt's HCA)?

    At every internal node on the true path -- the implicit root, whose children are
    the coarsest level's nodes, then each true node down to the leaves' grandparent --
    the argmax of ``level_scores`` restricted to that node's children must be the
    true child; and the argmax over ALL leaves must be the true leaf. The check at the
    leaves' parent is implied by the last one. Ties go to the lowest index, as
    ``torch.argmax`` (so HCA <= the leaf top-1 of decoders whose leaf prediction is that
    argmax, which all of ``evaluation.decoding``'s are; a middle level's check is among
    siblings only, so HCA may exceed that level's top-1), and a true child
    scored ``-inf`` or NaN never counts.

    Args:
        level_scores: one ``[N, level_size]`` tensor per level, coarse -> fine.
        targets: ``[N, L]`` local targets (``hierarchy.level_targets``).
        leaf_pred: ``level_scores[-1].argmax(dim=1)`` when the caller has it already.
        leaf_scores: any-depth trees only: ``[N, num_leaves]`` scores of every leaf (leaf order).

    Any-depth trees: at every INNER node on the (variable-length) true path -- the root, then
    each true node above the true leaf's parent -- the argmax among its children must be the
    true child, and the argmax over ALL leaves (``leaf_scores``, or ``leaf_pred``) the true leaf.
    """
    t = _long(targets, "targets", 2)
    if len(level_scores) != hierarchy.num_levels or t.shape[1] != hierarchy.num_levels:
        raise ValueError(
            f"hierarchical_consistent_mask: expected {hierarchy.num_levels} levels, "
            f"got {len(level_scores)} score tensors and targets of shape {tuple(t.shape)}"
        )
    if getattr(hierarchy, "ragged", False):
        return _any_depth_consistent_mask(level_scores, t, hierarchy, leaf_scores, leaf_pred)
    ok = torch.ones(t.shape[0], dtype=torch.bool)
    last = hierarchy.num_levels - 1
    for level, scores in enumerate(level_scores):
        scores = torch.as_tensor(scores).detach().cpu()
        if 0 < level < last:  # restricted to the children of the TRUE parent
            parent_of = level_parents(hierarchy, level)
            scores = scores.masked_fill(parent_of[None, :] != t[:, level - 1 : level], float("-inf"))
        target = t[:, level]
        finite = scores.gather(1, target[:, None]).squeeze(1) > float("-inf")
        pred = leaf_pred if level == last and leaf_pred is not None else scores.argmax(dim=1)
        ok &= (pred == target) & finite
    return ok


def _any_depth_consistent_mask(level_scores: list, t: torch.Tensor, hierarchy: "Hierarchy",
                               leaf_scores: Optional[torch.Tensor], leaf_pred: Optional[torch.Tensor]) -> torch.Tensor:
    """:func:`hierarchical_consistent_mask` on an any-depth tree (its docstring)."""
    ancestors = torch.as_tensor(hierarchy.ancestors).long()
    true_leaf = _true_leaves(t, ancestors)
    if leaf_pred is None:
        if leaf_scores is None:
            raise ValueError("hierarchical_consistent_mask: an any-depth tree needs leaf_scores or leaf_pred")
        leaf_pred = torch.as_tensor(leaf_scores).detach().cpu().argmax(dim=1)
    ok = torch.as_tensor(leaf_pred).long() == true_leaf
    if leaf_scores is not None:
        ok &= torch.as_tensor(leaf_scores).detach().cpu().gather(1, true_leaf[:, None]).squeeze(1) > float("-inf")
    depth = (t >= 0).sum(dim=1)  # levels on each true path
    for level, scores in enumerate(level_scores):
        scores = torch.as_tensor(scores).detach().cpu()
        inner = level < depth - 1  # the check at the leaf's parent is the all-leaf one above
        if level:
            parent_of = level_parents(hierarchy, level)
            scores = scores.masked_fill(parent_of[None, :] != t[:, level - 1 : level], float("-inf"))
        target = t[:, level].clamp(min=0)
        finite = scores.gather(1, target[:, None]).squeeze(1) > float("-inf")
        ok &= ~inner | ((scores.argmax(dim=1) == target) & finite)
    return ok


def _true_leaves(t: torch.Tensor, ancestors: torch.Tensor) -> torch.Tensor:
    """Leaf index of each per-level target row (rows padded with -1 below the leaf)."""
    match = (t[:, None, :] == ancestors[None, :, :]).all(dim=2)  # [N, num_leaves]
    return match.to(torch.int8).argmax(dim=1)


def hierarchical_consistent_accuracy(level_scores: list, targets: Any, hierarchy: "Hierarchy") -> float:
    """HCA: fraction of samples right at every node on their path (0.0 for empty input)."""
    mask = hierarchical_consistent_mask(level_scores, targets, hierarchy)
    return mask.double().mean().item() if mask.numel() else 0.0


def hierarchical_overlap(
    preds: Any, targets: Any, hierarchy: "Hierarchy", ancestors_table: Optional[torch.Tensor] = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample ``(|A(y_hat) & A(y)|, |A(y_hat)|, |A(y)|)`` as long tensors [N].

    A(y) is the true path (L nodes, root excluded). The prediction is the set of
    per-level predicted nodes, each augmented with its ancestors (Kiritchenko et al.):
    A(y_hat) = union_l A(y_hat^l). A consistent prediction is one path, so
    |A(y_hat)| = L; an inconsistent one is the union of several partial paths, so it
    holds more nodes and costs precision (a plain per-level set would always hold L
    nodes and make hP = hR = the mean per-level top-1).
    """
    p = _long(preds, "preds", 2)
    t = _long(targets, "targets", 2)
    _same_shape(p, t, "hierarchical_overlap(preds, targets)")
    num_levels = hierarchy.num_levels
    if p.shape[1] != num_levels:
        raise ValueError(f"preds: expected {num_levels} columns (levels {list(hierarchy.level_names)}), got {p.shape[1]}")
    table = node_ancestors(hierarchy) if ancestors_table is None else ancestors_table
    offsets = torch.tensor(hierarchy.level_offsets, dtype=torch.long)
    if getattr(hierarchy, "ragged", False):
        return _any_depth_overlap(p, t, table, offsets)
    # nodes[i, l, m] = ancestor at level m of the node predicted at level l (-1 when m > l)
    nodes = table[p + offsets]  # [N, L, L]
    true_nodes = t + offsets  # [N, L]
    # a node at level m is counted once: from the coarsest prediction l >= m that reaches it
    earlier = torch.ones(num_levels, num_levels, dtype=torch.bool).tril(-1)  # [l, l'] : l' < l
    dup = (nodes[:, :, None, :] == nodes[:, None, :, :]) & earlier[None, :, :, None]  # [N, l, l', m]
    first = (nodes >= 0) & ~dup.any(dim=2)  # [N, L, L]
    predicted = first.sum(dim=(1, 2))
    shared = ((nodes == true_nodes[:, None, :]) & first).sum(dim=(1, 2))
    true_size = torch.full_like(predicted, num_levels)
    return shared, predicted, true_size


def _any_depth_overlap(p: torch.Tensor, t: torch.Tensor, table: torch.Tensor,
                       offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`hierarchical_overlap` where -1 marks "no prediction / no true node" at a level."""
    num_levels = p.shape[1]
    nodes = table[(p + offsets).clamp(min=0)].masked_fill((p < 0)[:, :, None], -1)  # [N, L, L]
    true_nodes = torch.where(t >= 0, t + offsets, -2)  # -2 never matches a node nor the -1 padding
    earlier = torch.ones(num_levels, num_levels, dtype=torch.bool).tril(-1)
    dup = (nodes[:, :, None, :] == nodes[:, None, :, :]) & earlier[None, :, :, None]
    first = (nodes >= 0) & ~dup.any(dim=2)
    predicted = first.sum(dim=(1, 2))
    shared = ((nodes == true_nodes[:, None, :]) & first).sum(dim=(1, 2))
    return shared, predicted, (t >= 0).sum(dim=1)


def per_level_accuracy(preds: Any, targets: Any) -> list[float]:
    """Top-1 of each level over the samples whose TRUE path reaches it (NaN for a level none reaches).

    On a fixed-level tree every sample counts at every level; on an any-depth tree level ``l``
    (depth ``l + 1``) is scored on the samples whose leaf sits at that depth or deeper.
    """
    p = _long(preds, "preds", 2)
    t = _long(targets, "targets", 2)
    _same_shape(p, t, "per_level_accuracy(preds, targets)")
    out = []
    for level in range(t.shape[1]):
        reached = t[:, level] >= 0
        out.append((p[reached, level] == t[reached, level]).double().mean().item() if reached.any() else math.nan)
    return out


def leaf_accuracy(pred_leaf: Any, true_leaf: Any) -> float:
    """Fraction of samples whose predicted leaf is the true leaf, whatever depth it sits at."""
    p = _long(pred_leaf, "pred_leaf", 1)
    t = _long(true_leaf, "true_leaf", 1)
    _same_shape(p, t, "leaf_accuracy(pred_leaf, true_leaf)")
    return (p == t).double().mean().item() if t.numel() else 0.0


def rank_accuracy(pred_leaf: Any, true_leaf: Any, hierarchy: "Hierarchy") -> dict[str, float]:
    """Per-rank top-1 (fractions): rank r scores the samples whose true path has a node of rank r; one is
    right when the predicted leaf's path holds that same node. A rank no true path has is left out."""
    p = _long(pred_leaf, "pred_leaf", 1)
    t = _long(true_leaf, "true_leaf", 1)
    _same_shape(p, t, "rank_accuracy(pred_leaf, true_leaf)")
    node_at = {}  # (leaf, rank) -> node on the leaf's path
    for leaf in range(hierarchy.num_leaves):
        for node in hierarchy.node_ancestors_of(hierarchy.leaf_nodes[leaf]):
            if hierarchy.node_ranks[node] is not None:
                node_at[leaf, hierarchy.node_ranks[node]] = node
    out = {}
    for rank in hierarchy.rank_names:
        hits = [node_at.get((int(b), rank)) == node_at[int(a), rank]
                for a, b in zip(t.tolist(), p.tolist()) if (int(a), rank) in node_at]
        if hits:
            out[rank] = sum(hits) / len(hits)
    return out


def hierarchical_prf(preds: Any, targets: Any, hierarchy: "Hierarchy") -> tuple[float, float, float]:
    """Micro hierarchical precision, recall and F1 (fractions; 0.0 each for empty input).

    hP = sum|A(y_hat) & A(y)| / sum|A(y_hat)|, hR = sum|A(y_hat) & A(y)| / sum|A(y)|,
    hF = 2 hP hR / (hP + hR), with A as in :func:`hierarchical_overlap`. For consistent
    predictions hP = hR = hF = the mean of the per-level top-1 accuracies.
    """
    shared, predicted, true_size = hierarchical_overlap(preds, targets, hierarchy)
    if shared.numel() == 0:
        return 0.0, 0.0, 0.0
    hp = shared.sum().item() / predicted.sum().item()
    hr = shared.sum().item() / true_size.sum().item()
    hf = 0.0 if hp + hr == 0 else 2 * hp * hr / (hp + hr)
    return hp, hr, hf

