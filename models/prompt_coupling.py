"""MaPLe's vision-language coupling: vision prompts are linear projections of the text prompts."""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import Tensor, nn


class PromptCoupling(nn.Module):
    r"""One ``Linear(d_text -> w_vision)`` per prompted layer, mapping text prompts to vision prompts.

    For layer :math:`i` (0 = input level) the vision prompts are
    :math:`V_i = F_i(P_i)` where :math:`P_i \in \mathbb{R}^{n_{ctx} \times d}` are
    that layer's *text* prompts. The vision side therefore has no free prompt
    parameters: gradients of the image loss flow into the language prompts
    (MaPLe's "coupling function").

    As in MaPLe, the deep projections (layers ``1..depth-1``) start as copies of
    one initialisation; the input-level projection is initialised separately.

    Args:
        text_width: text token width ``d`` (512 for ViT-B/16).
        vision_width: vision token width ``w`` (768 for ViT-B/16).
        depth: number of prompted layers (>= 1).

    Shapes:
        - **input:** ctx :math:`(n_{ctx}, d)`; deep :math:`(\mathrm{depth}-1, n_{ctx}, d)` or ``None``.
        - **output:** :math:`(n_{ctx}, w)` and :math:`(\mathrm{depth}-1, n_{ctx}, w)` or ``None``.
    """

    def __init__(self, text_width: int, vision_width: int, depth: int) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"PromptCoupling needs depth >= 1, got {depth}")
        self.input_projection = nn.Linear(text_width, vision_width)
        deep = nn.Linear(text_width, vision_width)
        self.deep_projections = nn.ModuleList(copy.deepcopy(deep) for _ in range(depth - 1))
        self.depth = depth

    def forward(self, ctx: Tensor, deep: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor]]:
        expected = self.depth - 1
        got = 0 if deep is None else deep.shape[0]
        if got != expected:
            raise ValueError(f"PromptCoupling: expected {expected} deep text prompt layers, got {got}")
        dtype = self.input_projection.weight.dtype
        vision_ctx = self.input_projection(ctx.to(dtype))
        if deep is None:
            return vision_ctx, None
        vision_deep = torch.stack([proj(deep[i].to(dtype)) for i, proj in enumerate(self.deep_projections)])
        return vision_ctx, vision_deep
