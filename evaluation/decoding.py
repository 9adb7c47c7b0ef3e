"""Inference-time decoding of HGCLIP-style all-node logits into per-level predictions.

HGCLIP scores every node of every level and takes an independent argmax per
level, which need not yield a valid root-to-leaf path. These pure functions are
alternatives that use only the hierarchy's level slices and ancestor tables
(``shared/reference/metrics.md`` section 3):

* ``independent`` -- argmax of each level's logit slice (HGCLIP; the default).
  Paths are NOT guaranteed valid.
* ``bottom_up``   -- softmax over the finest level only, then each coarser node
  scores the summed probability of the leaves below it (pybioclip-style
  marginalisation; ``chils_supagg`` below also weighs it by the level's own
  softmax), and each level takes its own argmax. Paths are
  NOT guaranteed valid: the argmax of a coarse marginal can sit above several
  medium leaves while the single best leaf lies elsewhere.
* ``top_down``    -- greedy: argmax at the coarsest level, then at each finer level
  argmax over the children of the node predicted just above. Always valid.
* ``path``        -- exact MAP path: every leaf is one root-to-leaf path, scored by
  the sum of the per-level log-softmax scores of its nodes; the best leaf is
  predicted with all its ancestors. Always valid (also under ties).
* ``chils``, ``chils_hat``, ``chils_supagg`` -- CHiLS (Novack et al., ICML 2023): a
  coarse class is predicted through its subclasses. CHiLS is two-level; here, for
  every level ``l`` above the finest, the *subclasses* of a node are the LEAVES under
  it (in BREEDS, CHiLS's benchmark, a superclass's subclasses are the ImageNet leaf
  classes below it, however deep), so with two levels this is exactly CHiLS. With
  ``p_l`` the softmax over level ``l``'s nodes and ``p_L`` the softmax over the leaves
  (``L`` the finest level), and ``P(n) = sum of p_L over the leaves under n``:

  - ``chils``        (CHiLS's default reweighting): leaf ``s`` scores
    ``p_L(s) * p_l(anc_l(s))``; level ``l`` predicts the ancestor of the best leaf.
  - ``chils_hat``    (CHiLS's "hat" variant, which ignores ``p_l``): leaf ``s`` scores
    ``p_L(s) * P(anc_l(s))``; level ``l`` predicts the ancestor of the best leaf.
  - ``chils_supagg`` (CHiLS's "superclass aggregate"): node ``n`` scores
    ``p_l(n) * P(n)``; level ``l`` predicts its argmax.

  Scores are the LOGARITHMS of these products (the same ranking, no float underflow).
  A node's score at level ``l`` is the best score of the leaves under it (``chils``,
  ``chils_hat``), so each level's argmax is the CHiLS prediction and its top-5 is
  defined; ties go to the lowest node index (``torch.argmax``; CHiLS's code takes the
  lowest-index tied leaf instead, which differs only when tied leaves have different
  ancestors). A node or leaf at ``-inf`` has probability 0 and scores ``-inf``. The finest level has
  no subclasses: under all three it scores its own log-softmax, i.e. plain
  zero-shot over the leaves (CHiLS reweights superclass predictions only). Paths are
  NOT guaranteed valid: each coarse level follows its own best reweighted leaf while
  the finest level takes the best plain leaf.

Each method returns per-level SCORES (so the evaluator can also take top-5 from
them); :func:`decode` reduces them to per-level local predictions ``[B, L]``. Every
metric follows the decoder's scores except MTA (tree-cut accuracy), which restricts
the raw all-node logits to each cut and so does not depend on the decoding.

On a tree whose leaves sit at different depths every decoder goes through
:mod:`.decoding_any_depth` (its docstring: how leaves at several depths are compared, and why
``path`` scores a leaf by the MEAN log-probability of its path there); a fixed-level tree
never does, so its numbers are unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..hierarchy import Hierarchy
from .decoding_any_depth import decode_any_depth
from .metrics import level_parents
from .score_ops import node_logsumexp, node_max, restrict

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
    "chils_scores",
    "chils_hat_scores",
    "chils_supagg_scores",
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
    infinite or NaN ones included (:func:`.score_ops.restrict`).
    """
    slices = [s.float().log_softmax(dim=-1) for s in hierarchy.split_logits(logits)]
    scores = [slices[0]]
    predicted = slices[0].argmax(dim=-1)
    for level in range(1, hierarchy.num_levels):
        parent_of = level_parents(hierarchy, level).to(predicted.device)  # [size_level]
        allowed = parent_of[None, :] == predicted[:, None]  # [B, size_level]
        masked = restrict(slices[level], allowed)
        scores.append(masked)
        predicted = masked.argmax(dim=-1)
    return scores


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


def _chils(logits: torch.Tensor, hierarchy: Hierarchy, rule: str) -> list[torch.Tensor]:
    """Per-level log CHiLS scores under ``rule`` (``chils`` | ``hat`` | ``supagg``); see the module docstring."""
    slices = [s.float().log_softmax(dim=-1) for s in hierarchy.split_logits(logits)]
    leaf = slices[-1]  # log p_L(s), [B, num_leaves]
    ancestors = hierarchy.ancestors.to(leaf.device)
    scores = []
    for level, size in enumerate(hierarchy.level_sizes[:-1]):
        index = ancestors[:, level]  # the level-l ancestor of every leaf
        if rule == "chils":  # log p_l(n) + max_{s under n} log p_L(s)
            scores.append(slices[level] + node_max(leaf, index, size))
            continue
        mass = node_logsumexp(leaf, index, size)  # log P(n)
        if rule == "hat":  # log P(n) + max_{s under n} log p_L(s)
            scores.append(mass + node_max(leaf, index, size))
        else:  # supagg: log p_l(n) + log P(n)
            scores.append(slices[level] + mass)
    scores.append(leaf)
    return scores


def chils_scores(logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
    """CHiLS: level l node n scores ``log p_l(n) + max over its leaves s of log p_L(s)`` (the best reweighted leaf)."""
    return _chils(logits, hierarchy, "chils")


def chils_hat_scores(logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
    """CHiLS-hat: as :func:`chils_scores` with ``p_l(n)`` replaced by the leaf mass ``P(n)`` under n."""
    return _chils(logits, hierarchy, "hat")


def chils_supagg_scores(logits: torch.Tensor, hierarchy: Hierarchy) -> list[torch.Tensor]:
    """CHiLS superclass aggregate: level l node n scores ``log p_l(n) + log P(n)``."""
    return _chils(logits, hierarchy, "supagg")


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
        if getattr(hierarchy, "ragged", False):
            return decode_any_depth(logits, hierarchy, self.name).scores
        return self.scores(logits, hierarchy)

    def predict(self, scores: list[torch.Tensor], hierarchy: Hierarchy) -> torch.Tensor:
        """Per-level local predictions ``[B, L]`` from this decoder's scores (fixed-level trees)."""
        if getattr(hierarchy, "ragged", False):
            raise ValueError("an any-depth tree is decoded from its logits: use decode() or decode_any_depth()")
        if self.from_leaf:
            return hierarchy.ancestors.to(scores[-1].device)[scores[-1].argmax(dim=-1)]
        return torch.stack([s.argmax(dim=-1) for s in scores], dim=1)


DECODINGS: dict[str, Decoder] = {
    "independent": Decoder("independent", independent_scores, valid_paths=False),
    "bottom_up": Decoder("bottom_up", bottom_up_scores, valid_paths=False),
    "top_down": Decoder("top_down", top_down_scores, valid_paths=True),
    "path": Decoder("path", path_scores, valid_paths=True, from_leaf=True),
    "chils": Decoder("chils", chils_scores, valid_paths=False),
    "chils_hat": Decoder("chils_hat", chils_hat_scores, valid_paths=False),
    "chils_supagg": Decoder("chils_supagg", chils_supagg_scores, valid_paths=False),
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
    """Per-level local predictions ``[B, num_levels]`` (last column = leaf) under decoding ``method``.

    On an any-depth tree the rows stop at the predicted leaf's depth (-1 below; :mod:`.decoding_any_depth`).
    """
    if getattr(hierarchy, "ragged", False):
        return decode_any_depth(logits, hierarchy, _decoder(method).name).preds
    return predict(level_scores(logits, hierarchy, method), hierarchy, method)
