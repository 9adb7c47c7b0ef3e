"""Graph encoders over the class-hierarchy graph (torch_geometric)."""
from __future__ import annotations

from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, SAGEConv

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "relu": F.relu,
    "elu": F.elu,
    "leaky_relu": F.leaky_relu,
    "none": lambda x: x,
}
CONV_TYPES = ("gat", "gcn", "sage")


class GraphEncoder(nn.Module):
    r"""A stack of graph convolutions over the hierarchy graph.

    .. math::
        x^{(l+1)} = \sigma\big(\mathrm{Conv}_l(x^{(l)}, \mathcal{E})\big),\ l < L-1, \qquad
        y = \mathrm{Conv}_{L-1}(x^{(L-1)}, \mathcal{E}) \; (+\, x^{(0)} \text{ if residual})

    For ``conv="gat"`` hidden layers concatenate ``heads`` heads of
    ``hidden_dim / heads`` channels each, and the last layer averages ``heads``
    heads of ``out_dim`` channels: every head is used (the official code computes
    8 heads per layer and keeps only head 0; ``heads=1`` reproduces that path
    without the wasted work). Self-loops are not added by the layers: they come
    from ``edge_index`` (see :meth:`hierarchy.Hierarchy.edge_index`), so the graph
    is fully described by the data.

    Args:
        in_dim: input feature size.
        hidden_dim: hidden feature size (all heads together).
        out_dim: output feature size.
        num_layers: number of convolutions (>= 1). (default: 3)
        conv: ``"gat"``, ``"gcn"`` or ``"sage"``. (default: ``"gat"``)
        heads: attention heads for GAT. (default: 1)
        activation: ``"gelu"``, ``"relu"``, ``"elu"``, ``"leaky_relu"`` or ``"none"``. (default: ``"gelu"``)
        dropout: dropout on the input of every layer but the first. (default: 0.0)
        residual: add the input to the output (needs ``in_dim == out_dim``). (default: False)

    Shapes:
        - **input:** node features :math:`(K, F_{in})`, edge_index :math:`(2, E)`.
        - **output:** node features :math:`(K, F_{out})`.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 3,
        conv: str = "gat",
        heads: int = 1,
        activation: str = "gelu",
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if conv not in CONV_TYPES:
            raise ValueError(f"graph encoder TYPE must be one of {CONV_TYPES}, got {conv!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"graph encoder ACTIVATION must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if num_layers < 1:
            raise ValueError(f"graph encoder LAYERS must be >= 1, got {num_layers}")
        if conv == "gat" and hidden_dim % heads:
            raise ValueError(f"graph encoder HIDDEN_DIM ({hidden_dim}) must be divisible by HEADS ({heads})")
        if residual and in_dim != out_dim:
            raise ValueError(f"a residual graph encoder needs in_dim == out_dim, got {in_dim} and {out_dim}")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList(
            self._make_conv(conv, dims[i], dims[i + 1], heads, last=(i == num_layers - 1)) for i in range(num_layers)
        )
        self.activation = ACTIVATIONS[activation]
        self.dropout = dropout
        self.residual = residual

    @staticmethod
    def _make_conv(conv: str, in_dim: int, out_dim: int, heads: int, last: bool) -> nn.Module:
        if conv == "gat":
            if last:
                return GATConv(in_dim, out_dim, heads=heads, concat=False, add_self_loops=False)
            return GATConv(in_dim, out_dim // heads, heads=heads, concat=True, add_self_loops=False)
        if conv == "gcn":
            return GCNConv(in_dim, out_dim, add_self_loops=False)
        return SAGEConv(in_dim, out_dim)

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            if i > 0:
                h = F.dropout(h, p=self.dropout, training=self.training)
            h = conv(h, edge_index)
            if i < len(self.convs) - 1:
                h = self.activation(h)
        return h + x if self.residual else h
