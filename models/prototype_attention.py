"""Attention of image tokens over (graph-refined) visual prototypes (HGCLIP Eq. 9-11)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

POOLINGS = ("mean", "max", "mean+max")


class PrototypeAttention(nn.Module):
    r"""Each image token attends over the K node prototypes; the attended tokens are pooled.

    .. math::
        A = \mathrm{softmax}_K\!\big(S P^\top / \alpha\big), \qquad
        \hat S = A P, \qquad \hat f = \mathrm{POOL}_T(\hat S)

    with :math:`S` the token features and :math:`P` the prototypes, both
    L2-normalised when ``normalize`` is set. ``POOL`` is the mean, the max, or
    their sum (``"mean+max"``, the official choice). Computed for the whole batch
    in one contraction (the official code loops over the images).

    Args:
        alpha: attention temperature; the official code uses 0.5 on unnormalised features.
        pooling: ``"mean"``, ``"max"`` or ``"mean+max"``.
        normalize: L2-normalise tokens and prototypes first.

    Shapes:
        - **input:** tokens :math:`(B, T, D)`, prototypes :math:`(K, D)`.
        - **output:** :math:`(B, D)`.
    """

    def __init__(self, alpha: float = 0.5, pooling: str = "mean+max", normalize: bool = True) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"ATTENTION.POOLING must be one of {POOLINGS}, got {pooling!r}")
        if alpha <= 0:
            raise ValueError(f"ATTENTION.ALPHA must be > 0, got {alpha}")
        self.alpha = alpha
        self.pooling = pooling
        self.normalize = normalize

    def forward(self, tokens: Tensor, prototypes: Tensor) -> Tensor:
        prototypes = prototypes.to(tokens.dtype)
        if self.normalize:
            tokens = F.normalize(tokens, dim=-1)
            prototypes = F.normalize(prototypes, dim=-1)
        attention = torch.softmax(tokens @ prototypes.t() / self.alpha, dim=-1)
        attended = attention @ prototypes
        if self.pooling == "mean":
            return attended.mean(dim=1)
        if self.pooling == "max":
            return attended.amax(dim=1)
        return attended.mean(dim=1) + attended.amax(dim=1)
