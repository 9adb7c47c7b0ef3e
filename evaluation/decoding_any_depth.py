"""The decoders on a tree whose leaves sit at different depths (``levels: any``).

On such a tree the prediction is a LEAF at some depth and the path down to it: each decoder
returns per-level scores (top-5 per depth), a score for every leaf (leaf top-5, hierarchical
distance@5), the predicted leaf, and per-level predictions ``[B, L]`` that stop at the
predicted leaf's depth (-1 below it). Leaves at several depths are compared by one leaf score:

* ``independent``: the leaves' own logits (every node is scored by the same model, so raw logits
  compare across depths); the predicted leaf is their argmax, each depth down to it takes its own argmax.
* ``bottom_up``: a softmax over ALL leaves; a node scores the summed probability of the leaves under it
  (a leaf: its own), each depth takes its argmax down to the most probable leaf.
* ``top_down``: greedy from depth 1, each depth restricted to the children of the node chosen above,
  stopping at the first chosen node that is a leaf. The leaf scores are those of the predicted leaf and
  its sibling leaves (the others -inf), so @5 ranks the leaves the greedy walk compared last.
* ``path``: leaf ``l`` scores the MEAN per-node log-softmax of its path, ``S(l) / depth(l)`` (the log of
  the geometric-mean probability). The sum ``S(l)`` would favour shallow leaves, which pay fewer
  log-probability terms, so a leaf at depth 2 would beat a leaf at depth 4 whose four nodes are each
  more likely. On a fixed-level tree the mean and the sum rank alike and :mod:`.decoding` keeps the sum.
  A node scores its best leaf; the predictions are the best leaf's path (always valid).
* ``chils``, ``chils_hat``, ``chils_supagg``: CHiLS with ``p_L`` the softmax over ALL leaves and, at
  each depth ``l``, a node's subclasses the leaves under it (a leaf at depth ``l``: itself); the leaf
  prediction is plain zero-shot over the leaves (``p_L``'s argmax), each depth its reweighted argmax.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .metrics import level_parents
from .score_ops import node_logsumexp, node_max, restrict

if TYPE_CHECKING:
    from ..hierarchy import Hierarchy

NEG = float("-inf")


@dataclass(frozen=True)
class AnyDepthDecode:
    """One batch decoded on an any-depth tree.

    Attributes:
        scores: one ``[B, level_size]`` tensor per level (depth), coarse -> fine.
        leaf_scores: ``[B, num_leaves]``, leaf order; the predicted leaf is their argmax.
        pred_leaf: ``[B]`` leaf indices.
        preds: ``[B, L]`` local predictions down to the predicted leaf's depth, -1 below.
    """

    scores: list[torch.Tensor]
    leaf_scores: torch.Tensor
    pred_leaf: torch.Tensor
    preds: torch.Tensor


def _leaf_index(h: "Hierarchy", level: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Each leaf's local ancestor at ``level`` (0 where the leaf is shallower) and whether it reaches it."""
    column = h.ancestors[:, level].to(device)
    return column.clamp(min=0), column >= 0


def _leaf_depths(h: "Hierarchy", device: torch.device) -> torch.Tensor:
    return torch.tensor(h.leaf_levels, dtype=torch.long, device=device) + 1


def _down_to_leaf(preds: torch.Tensor, pred_leaf: torch.Tensor, h: "Hierarchy") -> torch.Tensor:
    """``preds`` with every column below the predicted leaf's depth set to -1."""
    depth = _leaf_depths(h, preds.device)[pred_leaf]
    columns = torch.arange(preds.shape[1], device=preds.device)
    return preds.masked_fill(columns[None, :] >= depth[:, None], -1)


def _per_level(scores: list[torch.Tensor], leaf_scores: torch.Tensor, h: "Hierarchy") -> AnyDepthDecode:
    """The best leaf, and each depth's own argmax down to it."""
    pred_leaf = leaf_scores.argmax(dim=-1)
    preds = torch.stack([s.argmax(dim=-1) for s in scores], dim=1)
    return AnyDepthDecode(scores, leaf_scores, pred_leaf, _down_to_leaf(preds, pred_leaf, h))


def independent(logits: torch.Tensor, h: "Hierarchy") -> AnyDepthDecode:
    """Each depth's logits; the leaves compared by their own logits."""
    return _per_level(h.split_logits(logits), h.leaf_logits(logits), h)


def bottom_up(logits: torch.Tensor, h: "Hierarchy") -> AnyDepthDecode:
    """Softmax over all leaves, marginalised up: a node scores the probability mass of its leaves."""
    leaf_probs = h.leaf_logits(logits).float().softmax(dim=-1)
    scores = []
    for level, size in enumerate(h.level_sizes):
        index, reach = _leaf_index(h, level, leaf_probs.device)
        marginal = leaf_probs.new_zeros(leaf_probs.shape[0], size)
        scores.append(marginal.index_add_(1, index[reach], leaf_probs[:, reach]))
    return _per_level(scores, leaf_probs, h)


def path(logits: torch.Tensor, h: "Hierarchy") -> AnyDepthDecode:
    """Each leaf scores the mean log-softmax of its path's nodes; the best leaf's path is predicted."""
    slices = [s.float().log_softmax(dim=-1) for s in h.split_logits(logits)]
    total = slices[0].new_zeros(slices[0].shape[0], h.num_leaves)
    reaches = []
    for level, scores in enumerate(slices):
        index, reach = _leaf_index(h, level, total.device)
        total = total + torch.where(reach[None, :], scores[:, index], 0.0)
        reaches.append((index, reach))
    mean = total / _leaf_depths(h, total.device)[None, :]
    level_scores = [node_max(mean.masked_fill(~reach[None, :], NEG), index, size)
                    for (index, reach), size in zip(reaches, h.level_sizes)]
    pred_leaf = mean.argmax(dim=-1)
    preds = _down_to_leaf(h.ancestors.to(mean.device)[pred_leaf], pred_leaf, h)
    return AnyDepthDecode(level_scores, mean, pred_leaf, preds)


def top_down(logits: torch.Tensor, h: "Hierarchy") -> AnyDepthDecode:
    """Greedy descent from depth 1 among the children of the node chosen above, stopping at a leaf."""
    slices = [s.float().log_softmax(dim=-1) for s in h.split_logits(logits)]
    heights = torch.tensor(h.node_heights, dtype=torch.long, device=slices[0].device)
    is_leaf = [heights[level_slice] == 0 for level_slice in h.level_slices]
    predicted = slices[0].argmax(dim=-1)
    done = is_leaf[0][predicted]
    scores, preds = [slices[0]], [predicted]
    for level in range(1, h.num_levels):
        parent_of = level_parents(h, level).to(predicted.device)
        allowed = (parent_of[None, :] == predicted[:, None]) & ~done[:, None]
        masked = restrict(slices[level], allowed)
        predicted = torch.where(done, -1, masked.argmax(dim=-1))
        done = done | is_leaf[level][predicted.clamp(min=0)]
        scores.append(masked)
        preds.append(predicted)
    local = torch.stack(preds, dim=1)
    depth = (local >= 0).sum(dim=1)
    offsets = torch.tensor(h.level_offsets, dtype=torch.long, device=local.device)
    node = offsets[depth - 1] + local.gather(1, (depth - 1)[:, None]).squeeze(1)
    leaf_of_node = torch.full((h.num_nodes,), -1, dtype=torch.long, device=local.device)
    leaf_of_node[torch.tensor(h.leaf_nodes, dtype=torch.long, device=local.device)] = torch.arange(
        h.num_leaves, device=local.device)
    pred_leaf = leaf_of_node[node]
    leaf_nodes = torch.tensor(h.leaf_nodes, dtype=torch.long, device=local.device)
    leaf_scores = torch.cat(scores, dim=1)[:, leaf_nodes]
    same_depth = (_leaf_depths(h, local.device)[None, :] == depth[:, None])
    return AnyDepthDecode(scores, leaf_scores.masked_fill(~same_depth, NEG), pred_leaf, local)


def _chils(logits: torch.Tensor, h: "Hierarchy", rule: str) -> AnyDepthDecode:
    slices = [s.float().log_softmax(dim=-1) for s in h.split_logits(logits)]
    leaf = h.leaf_logits(logits).float().log_softmax(dim=-1)  # log p_L over all leaves
    scores = []
    for level, size in enumerate(h.level_sizes):
        index, reach = _leaf_index(h, level, leaf.device)
        values = leaf.masked_fill(~reach[None, :], NEG)  # only the leaves under this depth's nodes
        if rule == "chils":
            scores.append(slices[level] + node_max(values, index, size))
            continue
        mass = node_logsumexp(values, index, size)
        scores.append(mass + node_max(values, index, size) if rule == "hat" else slices[level] + mass)
    return _per_level(scores, leaf, h)


def chils(logits: torch.Tensor, h: "Hierarchy") -> AnyDepthDecode:
    """CHiLS: node n at depth l scores ``log p_l(n) + max over its leaves of log p_L``."""
    return _chils(logits, h, "chils")


def chils_hat(logits: torch.Tensor, h: "Hierarchy") -> AnyDepthDecode:
    """CHiLS-hat: ``log P(n) + max over its leaves of log p_L`` (P: the leaf mass under n)."""
    return _chils(logits, h, "hat")


def chils_supagg(logits: torch.Tensor, h: "Hierarchy") -> AnyDepthDecode:
    """CHiLS superclass aggregate: ``log p_l(n) + log P(n)``."""
    return _chils(logits, h, "supagg")


ANY_DEPTH_DECODERS = {
    "independent": independent,
    "bottom_up": bottom_up,
    "top_down": top_down,
    "path": path,
    "chils": chils,
    "chils_hat": chils_hat,
    "chils_supagg": chils_supagg,
}


def decode_any_depth(logits: torch.Tensor, h: "Hierarchy", method: str) -> AnyDepthDecode:
    """Decode all-node logits ``[B, num_nodes]`` on an any-depth tree under ``method`` (a ``TEST.DECODING``)."""
    if method not in ANY_DEPTH_DECODERS:
        raise ValueError(f"unknown decoding {method!r}; expected one of {sorted(ANY_DEPTH_DECODERS)}")
    return ANY_DEPTH_DECODERS[method](logits, h)
