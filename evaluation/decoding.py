"""Inference-time decoding of HGCLIP-style all-node logits into per-level predictions.

HGCLIP scores every node of every level and takes an independent argmax per
level, which need not yield a valid root-to-leaf path. These pure functions are
alternatives that use only the hierarchy's level slices and ancestor tables
(``shared/reference/metrics.md`` section 3):

* ``independent`` -- argmax of each level's logit slice (HGCLIP; the default).
  Paths are NOT guaranteed valid.
* ``bottom_up``   -- softmax over the finest level only, then each coarser node
  scores the summed probability of the leaves below it (pybioclip / CHiLS
  ``supagg``-style marginalisation), and each level takes its own argmax. Paths are
  NOT guaranteed valid: the argmax of a coarse marginal can sit above several
  medium leaves while the single best leaf lies elsewhere.
* ``top_down``    -- greedy: argmax at the coarsest level, then at each finer level
  argmax over the children of the node predicted just above. Always valid.
* ``path``        -- exact MAP path: every leaf is one root-to-leaf path, scored by
  the sum of the per-level log-softmax scores of its nodes; the best leaf is
  predicted with all its ancestors. Always valid (also under ties).

Each method returns per-level SCORES (so the evaluator can also take top-5 from
them); :func:`decode` reduces them to per-level local predictions ``[B, L]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..hierarchy import Hierarchy
from .metrics import level_parents

__all__ = [
    "DECODINGS",
    "VALID_PATH_DECODINGS",
    "Decoder",
    "level_scores",
    "predict",
    "decode",
    "independent_scores",
    "bottom_up_scores",
    "top_down_scores",
    "path_scores",
]


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


def top_down_scores(logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
    """Per-level log-softmax scores, each finer level masked to the children of the predicted parent.

    Nodes outside the predicted parent's children score ``-inf``, so the argmax
    path is valid by construction (and a coarse mistake propagates down), for any logits,
    infinite or NaN ones included (:func:`_restrict`).
    """
    slices = [s.float().log_softmax(dim=-1) for s in hierarchy.split_logits(logits)]
    scores = [slices[0]]
    predicted = slices[0].argmax(dim=-1)
    for level in range(1, hierarchy.num_levels):
        parent_of = level_parents(hierarchy, level).to(predicted.device)  # [size_level]
        allowed = parent_of[None, :] == predicted[:, None]  # [B, size_level]
        masked = _restrict(slices[level], allowed)
        scores.append(masked)
        predicted = masked.argmax(dim=-1)
    return scores


def _restrict(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """``scores`` with every position not ``allowed`` at ``-inf`` and every allowed one above it.

    With finite logits this is a plain mask. An allowed score of ``-inf`` or NaN (all of a
    branch's children at ``-inf``, a NaN logit) becomes the lowest finite value and ``+inf``
    the highest, so the argmax, and the top-5, stay inside the branch whatever the logits hold.
    """
    info = torch.finfo(scores.dtype)
    finite = torch.nan_to_num(scores, nan=info.min, posinf=info.max, neginf=info.min)
    return finite.masked_fill(~allowed, float("-inf"))


def path_scores(logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
    """Per-level max-path scores: the best summed log-probability of a valid path through each node.

    The score of leaf l is S(l) = sum_j log softmax(f_j(x))[ancestor_j(l)], i.e. the
    log-probability of its path under independent per-level softmaxes; a coarser node
    scores max S over the leaves below it. One gather per level over
    ``hierarchy.ancestors``, so the cost is O(B * num_leaves * L) and exact: every valid
    path is a leaf, and every leaf is scored.
    """
    slices = [s.float().log_softmax(dim=-1) for s in hierarchy.split_logits(logits)]
    ancestors = hierarchy.ancestors.to(slices[0].device)  # [num_leaves, L]
    leaf = slices[0][:, ancestors[:, 0]]
    for level in range(1, hierarchy.num_levels):
        leaf = leaf + slices[level][:, ancestors[:, level]]  # [B, num_leaves]
    scores = []
    for level, size in enumerate(hierarchy.level_sizes[:-1]):
        index = ancestors[:, level].expand(leaf.shape[0], -1)
        best = leaf.new_full((leaf.shape[0], size), float("-inf"))
        scores.append(best.scatter_reduce_(1, index, leaf, reduce="amax", include_self=True))
    scores.append(leaf)
    return scores


@dataclass(frozen=True)
class Decoder:
    """A decoding rule: per-level scores, how predictions are read from them, and its guarantee.

    Attributes:
        name: the ``TEST.DECODING`` value.
        scores: ``(logits [B, num_nodes], hierarchy) -> [B, level_size]`` per level.
        valid_paths: the predictions always form a valid root-to-leaf path.
        from_leaf: predictions are the argmax leaf and its ancestors (else a per-level argmax).
    """

    name: str
    scores: Callable[[torch.Tensor, Hierarchy], list[torch.Tensor]]
    valid_paths: bool
    from_leaf: bool = False

    def __call__(self, logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
        return self.scores(logits, hierarchy)

    def predict(self, scores: list[torch.Tensor], hierarchy: Hierarchy) -> torch.Tensor:
        """Per-level local predictions ``[B, L]`` from this decoder's scores."""
        if self.from_leaf:
            return hierarchy.ancestors.to(scores[-1].device)[scores[-1].argmax(dim=-1)]
        return torch.stack([s.argmax(dim=-1) for s in scores], dim=1)


DECODINGS: dict[str, Decoder] = {
    "independent": Decoder("independent", independent_scores, valid_paths=False),
    "bottom_up": Decoder("bottom_up", bottom_up_scores, valid_paths=False),
    "top_down": Decoder("top_down", top_down_scores, valid_paths=True),
    "path": Decoder("path", path_scores, valid_paths=True, from_leaf=True),
}
VALID_PATH_DECODINGS: tuple[str, ...] = tuple(name for name, d in DECODINGS.items() if d.valid_paths)


def _decoder(method: str) -> Decoder:
    if method not in DECODINGS:
        raise ValueError(f"unknown decoding {method!r}; expected one of {sorted(DECODINGS)}")
    return DECODINGS[method]


def level_scores(logits: torch.Tensor, hierarchy: Hierarchy, method: str = "independent") -> list[torch.Tensor]:
    """Per-level scores ``[B, level_size]`` (coarse -> fine) under decoding ``method``."""
    return _decoder(method)(logits, hierarchy)


def predict(scores: list[torch.Tensor], hierarchy: Hierarchy, method: str = "independent") -> torch.Tensor:
    """Per-level local predictions ``[B, L]`` from the scores :func:`level_scores` returned for ``method``."""
    return _decoder(method).predict(scores, hierarchy)


def decode(logits: torch.Tensor, hierarchy: Hierarchy, method: str = "independent") -> torch.Tensor:
    """Per-level local predictions ``[B, num_levels]`` (last column = leaf) under decoding ``method``."""
    return predict(level_scores(logits, hierarchy, method), hierarchy, method)
