"""Score operations the decoders share: masking a level to a branch, per-node max and log-sum over leaves."""
from __future__ import annotations

import torch


def restrict(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """``scores`` with every position not ``allowed`` at ``-inf`` and every allowed one above it.

    With finite logits this is a plain mask. An allowed score of ``-inf`` or NaN (all of a
    branch's children at ``-inf``, a NaN logit) becomes the lowest finite value and ``+inf``
    the highest, so the argmax, and the top-5, stay inside the branch whatever the logits hold.
    """
    info = torch.finfo(scores.dtype)
    finite = torch.nan_to_num(scores, nan=info.min, posinf=info.max, neginf=info.min)
    return finite.masked_fill(~allowed, float("-inf"))


def node_max(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, size]``: the max of ``values`` ``[B, num_leaves]`` over the leaves each node holds (``-inf`` if none)."""
    best = values.new_full((values.shape[0], size), float("-inf"))
    return best.scatter_reduce_(1, index.expand(values.shape[0], -1), values, reduce="amax", include_self=True)


def node_logsumexp(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, size]``: log of the summed ``exp(values)`` over each node's leaves, shifted by the node's max.

    The shift keeps ``log P(n)`` exact where every leaf probability underflows; a node whose
    leaves are all ``-inf`` gets ``-inf`` (not the NaN of ``-inf - -inf``).
    """
    top = node_max(values, index, size)
    shift = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    summed = values.new_zeros(values.shape[0], size).index_add_(1, index, (values - shift[:, index]).exp())
    return summed.log() + shift
