"""CoCoOp's meta-network: a small bottleneck MLP from an image feature to a context shift."""
from __future__ import annotations

from torch import Tensor, nn


class MetaNet(nn.Module):
    r"""Instance-conditional token :math:`\pi = W_2\,\mathrm{ReLU}(W_1 x + b_1) + b_2`.

    CoCoOp adds :math:`\pi(x)` to every learnable context token, so each image
    gets its own prompt. The hidden width is ``in_dim // reduction`` (512 -> 32
    for ViT-B/16), at least 1.

    Args:
        in_dim: image feature width ``D`` (CLIP's embedding width).
        out_dim: text token width ``d`` (CLIP's text transformer width).
        reduction: bottleneck factor. (default: 16)

    Shapes:
        - **input:** :math:`(B, D)` image features.
        - **output:** :math:`(B, d)` context shifts.
    """

    def __init__(self, in_dim: int, out_dim: int, reduction: int = 16) -> None:
        super().__init__()
        if in_dim < 1 or out_dim < 1 or reduction < 1:
            raise ValueError(f"MetaNet needs positive sizes, got in_dim={in_dim}, out_dim={out_dim}, reduction={reduction}")
        hidden = max(1, in_dim // reduction)
        self.linear1 = nn.Linear(in_dim, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Linear(hidden, out_dim)

    def reset_parameters(self) -> None:
        self.linear1.reset_parameters()
        self.linear2.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.relu(self.linear1(x.to(self.linear1.weight.dtype))))
