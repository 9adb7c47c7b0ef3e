"""A faithful re-statement of the official HGCLIP training step, on the same CLIP and hierarchy.

What the official code computes per step (the paper's sections 3.2-3.9, as the official code implements them):

* text: the deep-prompted text encoder on all 77 positions (4 context tokens,
  depth 9, ``[SOS][ctx] <rest of ctx_init> <name>.``, the name as written with only ``_``
  replaced by a space, as the official code does);
* both graph encoders: DGL ``GATConv`` with 8 heads in each of 3 layers whose head
  axis is never reduced, so layer 2 runs on ``[K, 8, 2D]`` and layer 3 on
  ``[K, 8, 8, 2D]`` (8x and 64x the rows, each with 8 heads), and head 0 of every
  layer is kept (``[:, 0, 0, 0]``). Emulated with PyG ``GATConv`` on 1, 8 and 64
  copies of the graph (edges parent -> child + self-loops), as in
  ``benchmarks/bench_hgclip.py``;
* the image graph encoder on the prototypes at every step;
* prototype attention in a per-image Python loop, ``softmax(2 S P^T) P``, mean + max pooling;
* logits ``e^s g T^T + 0.2 * 100 * f T^T`` (text normalised, nothing else);
* the per-level loss, ``backward(retain_graph=True)``, an SGD step over every
  parameter (also the 7/8 of each GNN that never gets a gradient).

:func:`copy_into_official_mode` loads the same weights into this project's
``HGCLIPModel`` in ``MODE official`` (head 0 of each layer = its single-head GAT), so the
benchmark can check that both compute the same logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones.prompted_clip import PromptedTextEncoder, PromptedVisionEncoder
from ..hierarchy import Hierarchy
from ..models import TextPromptLearner, VisionPromptLearner
from ..models.losses import hierarchical_cross_entropy, resolve_level_weights

HEADS = 8


OFFICIAL_HIDDEN = 1024


class OfficialGNN(nn.Module):
    """The official ``GNNModel``: GATConv(D->1024, 8) -> GELU -> GATConv(1024->1024, 8) -> GELU -> GATConv(1024->D, 8),
    head 0 kept (the official code fixes 1024 whatever the backbone).

    Shapes: node features :math:`(K, D)`, edge_index :math:`(2, E)` -> :math:`(K, D)`.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv

        hidden = OFFICIAL_HIDDEN
        self.dim, self.hidden = dim, hidden
        self.convs = nn.ModuleList([
            GATConv(dim, hidden, heads=HEADS, add_self_loops=False),
            GATConv(hidden, hidden, heads=HEADS, add_self_loops=False),
            GATConv(hidden, dim, heads=HEADS, add_self_loops=False),
        ])

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        k = x.shape[0]
        copies = lambda n: torch.cat([edge_index + i * k for i in range(n)], dim=1)  # noqa: E731
        h = F.gelu(self.convs[0](x, edge_index))  # [K, 8*2D]
        h = h.view(k, HEADS, self.hidden).transpose(0, 1).reshape(-1, self.hidden)  # 8 graphs
        h = F.gelu(self.convs[1](h, copies(HEADS)))  # [8K, 8*2D]
        h = h.view(HEADS, k, HEADS, self.hidden).permute(0, 2, 1, 3).reshape(-1, self.hidden)  # 64 graphs
        h = self.convs[2](h, copies(HEADS * HEADS))  # [64K, 8*D]
        return h.view(HEADS, HEADS, k, HEADS, self.dim)[0, 0, :, 0]


class OfficialHGCLIP(nn.Module):
    """The official HGCLIP forward and step (see the module docstring).

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    def __init__(self, clip_model: nn.Module, hierarchy: Hierarchy, prototypes: Tensor, n_ctx: int = 4,
                 depth: int = 9, ctx_init: str = "a photo of a") -> None:
        super().__init__()
        self.hierarchy = hierarchy
        self.logit_scale = clip_model.logit_scale
        self.text_encoder = PromptedTextEncoder(clip_model, truncate=False)  # all 77 positions
        self.image_encoder = PromptedVisionEncoder(clip_model)
        dim = self.text_encoder.output_dim
        self.text_prompts = TextPromptLearner(clip_model, hierarchy.prompt_names("official"), n_ctx, ctx_init, depth)
        self.vision_prompts = VisionPromptLearner(self.image_encoder.width, n_ctx, depth, self.image_encoder.num_layers)
        self.text_gnn = OfficialGNN(dim)
        self.image_gnn = OfficialGNN(dim)
        self.register_buffer("edge_index", hierarchy.edge_index("parent_to_child", self_loops=True), persistent=False)
        self.register_buffer("prototypes", prototypes.float(), persistent=False)
        self.level_weights = resolve_level_weights([], hierarchy)

    def trainable(self) -> list:
        return [p for m in (self.text_prompts, self.vision_prompts, self.text_gnn, self.image_gnn) for p in m.parameters()]

    def forward(self, images: Tensor) -> Tensor:
        p = self.text_prompts
        text = self.text_encoder(p(), p.tokenized, p.deep_prompts()).float()
        text = F.normalize(self.text_gnn(text, self.edge_index), dim=-1)
        ctx, deep = self.vision_prompts()
        image, tokens = self.image_encoder(images, ctx, deep, return_tokens=True)
        image, tokens = image.float(), tokens.float()
        prototypes = self.image_gnn(self.prototypes, self.edge_index)
        attended = []
        for b in range(images.shape[0]):  # the official per-sample loop
            a = torch.softmax(2 * tokens[b] @ prototypes.t(), dim=-1) @ prototypes
            attended.append(a.mean(dim=0) + a.max(dim=0).values)
        logits = self.logit_scale.exp().float() * image @ text.t()
        return logits + 0.2 * (100.0 * torch.stack(attended) @ text.t())

    def loss(self, images: Tensor, labels: Tensor) -> Tensor:
        return hierarchical_cross_entropy(self(images), labels, self.hierarchy, self.level_weights)[0]


class OfficialStep:
    """``zero_grad``, loss, ``backward(retain_graph=True)``, SGD step over every official parameter."""

    def __init__(self, model: OfficialHGCLIP) -> None:
        self.model = model
        self.optimizer = torch.optim.SGD(model.trainable(), lr=1e-3, momentum=0.9)

    def step(self, images: Tensor, labels: Tensor) -> float:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model.loss(images, labels)
        loss.backward(retain_graph=True)
        self.optimizer.step()
        return float(loss.detach())


@torch.no_grad()
def copy_into_official_mode(official: OfficialHGCLIP, ours: nn.Module) -> None:
    """Load the official model's prompts and head-0 GAT weights into an ``HGCLIPModel`` in ``MODE official``."""
    learner = ours.learner
    learner.text_prompts.ctx.copy_(official.text_prompts.ctx)
    learner.text_prompts.deep_ctx.copy_(official.text_prompts.deep_ctx)
    learner.vision_prompts.ctx.copy_(official.vision_prompts.ctx)
    learner.vision_prompts.deep_ctx.copy_(official.vision_prompts.deep_ctx)
    for big_gnn, small_gnn in ((official.text_gnn, learner.text_gnn), (official.image_gnn, learner.image_gnn)):
        for big, small in zip(big_gnn.convs, small_gnn.convs):
            out = small.lin.weight.shape[0]
            small.lin.weight.copy_(big.lin.weight[:out])
            small.att_src.copy_(big.att_src[:, :1])
            small.att_dst.copy_(big.att_dst[:, :1])
            small.bias.copy_(big.bias[:out])
    ours.prototypes.copy_(official.prototypes)
