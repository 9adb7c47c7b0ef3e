"""Inference-time decoding of HGCLIP-style all-node logits into per-level predictions.

HGCLIP scores every node of every level and takes an independent argmax per
level, which need not yield a valid root-to-leaf path. These pure functions are
cheap alternatives that use only the hierarchy's level slices and ancestor table
(``shared/reference/metrics.md`` section 3):

* ``independent`` -- argmax of each level's logit slice (HGCLIP; the default).
* ``bottom_up``   -- softmax over the finest level only, then each coarser node
  scores the summed probability of the leaves below it (pybioclip / CHiLS
  ``supagg``-style marginalisation).
* ``top_down``    -- greedy: argmax at the coarsest level, then at each finer level
  argmax over the children of the node predicted just above. Always consistent.

Each method returns per-level SCORES (so the evaluator can also take top-5 from
them); :func:`decode` reduces them to per-level local predictions ``[B, L]``.
"""
from __future__ import annotations

from typing import Callable

import torch

from hgclip.hierarchy import Hierarchy

__all__ = ["DECODINGS", "level_scores", "decode", "independent_scores", "bottom_up_scores", "top_down_scores"]


def independent_scores(logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
    """Each level's own logit slice, coarse -> fine (what HGCLIP decodes)."""
    return hierarchy.split_logits(logits)


def bottom_up_scores(logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
    """Per-level probabilities marginalised from the finest level's softmax.

    p(n | x) = sum of p(leaf | x) over the leaves under n. The finest level's
    scores are its own softmax; coarser logit slices are ignored.
    """
    leaf_probs = hierarchy.split_logits(logits)[-1].float().softmax(dim=-1)  # [B, num_leaves]
    ancestors = hierarchy.ancestors.to(leaf_probs.device)
    scores = []
    for level, size in enumerate(hierarchy.level_sizes):
        marginal = leaf_probs.new_zeros(leaf_probs.shape[0], size)
        scores.append(marginal.index_add_(1, ancestors[:, level], leaf_probs))
    return scores


def _parent_local(hierarchy: Hierarchy, level: int) -> torch.Tensor:
    """Local index (at ``level - 1``) of the parent of every node at ``level``."""
    level_slice = hierarchy.level_slices[level]
    parents = torch.tensor(hierarchy.parents[level_slice], dtype=torch.long)
    return parents - hierarchy.level_offsets[level - 1]


def top_down_scores(logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
    """Per-level log-softmax scores, each finer level masked to the children of the predicted parent.

    Nodes outside the predicted parent's children score ``-inf``, so the argmax
    path is valid by construction (and a coarse mistake propagates down).
    """
    slices = [s.float().log_softmax(dim=-1) for s in hierarchy.split_logits(logits)]
    scores = [slices[0]]
    predicted = slices[0].argmax(dim=-1)
    for level in range(1, hierarchy.num_levels):
        parent_of = _parent_local(hierarchy, level).to(predicted.device)  # [size_level]
        allowed = parent_of[None, :] == predicted[:, None]  # [B, size_level]
        masked = slices[level].masked_fill(~allowed, float("-inf"))
        scores.append(masked)
        predicted = masked.argmax(dim=-1)
    return scores


DECODINGS: dict[str, Callable[[torch.Tensor, Hierarchy], list[torch.Tensor]]] = {
    "independent": independent_scores,
    "bottom_up": bottom_up_scores,
    "top_down": top_down_scores,
}


def level_scores(logits: torch.Tensor, hierarchy: Hierarchy, method: str = "independent") -> list[torch.Tensor]:
    """Per-level scores ``[B, level_size]`` (coarse -> fine) under decoding ``method``."""
    if method not in DECODINGS:
        raise ValueError(f"unknown decoding {method!r}; expected one of {sorted(DECODINGS)}")
    return DECODINGS[method](logits, hierarchy)


def decode(logits: torch.Tensor, hierarchy: Hierarchy, method: str = "independent") -> torch.Tensor:
    """Per-level local predictions ``[B, num_levels]`` (last column = leaf) under decoding ``method``."""
    return torch.stack([s.argmax(dim=-1) for s in level_scores(logits, hierarchy, method)], dim=1)
