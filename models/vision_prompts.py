"""Learnable deep vision prompts (VPT-deep / IVLP style)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn


class VisionPromptLearner(nn.Module):
    r"""``n_ctx`` prompt tokens appended after the patches, replaced in the first ``depth`` layers.

    The input-level prompts :math:`(n_{ctx}, w)` are appended before ``ln_pre``;
    ``depth - 1`` further sets :math:`(\mathrm{depth}-1, n_{ctx}, w)` replace the
    last ``n_ctx`` tokens at layers ``1..depth-1``. All are drawn from N(0, 0.02).

    Args:
        width: token width of the ViT (768 for ViT-B/16).
        n_ctx: prompt tokens per layer.
        depth: number of vision layers that receive prompts (>= 1).
        num_layers: the ViT's number of blocks, to validate ``depth``.

    Shapes:
        - **output:** input prompts :math:`(n_{ctx}, w)` and deep prompts
          :math:`(\mathrm{depth}-1, n_{ctx}, w)` (``None`` when ``depth = 1``).
    """

    def __init__(self, width: int, n_ctx: int, depth: int, num_layers: int) -> None:
        super().__init__()
        if n_ctx < 1:
            raise ValueError(f"the number of vision context tokens must be >= 1, got {n_ctx}")
        if not 1 <= depth <= num_layers:
            raise ValueError(f"vision prompt depth must be in 1..{num_layers} (vision layers of this CLIP), got {depth}")
        self.ctx = nn.Parameter(torch.empty(n_ctx, width).normal_(std=0.02))
        self.deep_ctx = nn.Parameter(torch.empty(depth - 1, n_ctx, width).normal_(std=0.02)) if depth > 1 else None
        self.n_ctx = n_ctx
        self.depth = depth

    def forward(self) -> tuple[Tensor, Optional[Tensor]]:
        """``(input prompts, deep prompts or None)`` for :class:`PromptedVisionEncoder`."""
        return self.ctx, self.deep_ctx
