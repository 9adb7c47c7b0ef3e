"""HGCLIP's model (Xia et al., COLING 2025): deep V-L prompts + graph encoders over the class hierarchy.

:class:`HGCLIPModel` is :class:`~hgclip.models.deep_prompt.DeepPromptCLIP` plus

1. a text graph encoder over the prompted text features of every node;
2. an image graph encoder over the node prototypes (the mean frozen-CLIP image feature
   under each node, computed on the data side and handed in as a tensor);
3. prototype attention: image tokens attend over the refined prototypes and the pooled
   result adds a ``lambda_attn``-weighted logit term.

Every option is an explicit field of :class:`HGCLIPSettings`; the trainer resolves them
from the config (``TRAINER.HGCLIP``, including ``MODE official``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..hierarchy import Hierarchy
from .deep_prompt import DeepPromptCLIP
from .graph_encoder import GraphEncoder
from .prototype_attention import PrototypeAttention


@dataclass(frozen=True)
class PromptSettings:
    """Deep prompt sizes (``N_CTX_TEXT``, ``N_CTX_VISION``, ``PROMPT_DEPTH_TEXT/VISION``, ``CTX_INIT``)."""

    n_ctx_text: int
    n_ctx_vision: int
    depth_text: int
    depth_vision: int
    ctx_init: str


@dataclass(frozen=True)
class GraphSettings:
    """One graph encoder (``TRAINER.HGCLIP.TEXT_GNN`` / ``IMAGE_GNN``); ``hidden_dim`` is resolved (never 0)."""

    enabled: bool
    conv: str
    layers: int
    hidden_dim: int
    heads: int
    activation: str
    dropout: float
    direction: str
    self_loops: bool
    residual: bool


@dataclass(frozen=True)
class HGCLIPSettings:
    """Everything that defines the HGCLIP forward."""

    mode: str
    prompts: PromptSettings
    name_style: str  # hierarchy.prompt_names style: normalized | official
    text_gnn: GraphSettings
    image_gnn: GraphSettings
    attention: bool
    alpha: float
    pooling: str
    normalize: bool  # L2-normalise the global feature, tokens, prototypes and attended feature
    include_prompt_tokens: bool
    attn_logit_scale: float  # 0 = CLIP's logit scale
    lambda_global: float
    lambda_attn: float


def build_graph_encoder(graph: GraphSettings, dim: int) -> Optional[GraphEncoder]:
    """The graph encoder of ``graph`` over ``dim``-wide node features, or ``None`` when it is off."""
    if not graph.enabled:
        return None
    return GraphEncoder(dim, graph.hidden_dim, dim, graph.layers, graph.conv, graph.heads,
                        graph.activation, graph.dropout, graph.residual)


class HGCLIPModel(DeepPromptCLIP):
    r"""HGCLIP's forward over all nodes of the hierarchy.

    .. math::
        \hat F_t = \overline{\mathrm{GNN}_t(F_t)}, \qquad
        \hat P = \mathrm{GNN}_v(P), \qquad
        \hat f = \mathrm{POOL}\big(\mathrm{softmax}(S \hat P^\top/\alpha)\,\hat P\big)

        \mathrm{logits} = \lambda_1\, e^{s}\, g\, \hat F_t^\top + \lambda_2\, c\, \hat f\, \hat F_t^\top

    with :math:`F_t` the prompted text features of all nodes, :math:`P` the node
    prototypes, :math:`S` the prompted image tokens, :math:`g` the prompted global
    image feature and :math:`c` the attended term's scale. In default mode
    :math:`g, S, \hat P, \hat f` are L2-normalised; in official mode they are not
    (see :func:`hgclip.trainers.hgclip.hgclip_settings`). A disabled component is the identity (graph
    encoders) or drops its term (attention); with all three disabled this is IVLP.

    Args:
        clip_model: frozen CLIP (ViT image tower).
        hierarchy: every node is a class; its tree gives the graph.
        settings: everything that defines the forward (:class:`HGCLIPSettings`).
        prototypes: node prototypes ``[K, D]`` in the hierarchy's node order (see
            :mod:`hgclip.datasets.prototypes`); the attention branch needs them, now or later
            through :meth:`set_prototypes`.

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    def __init__(
        self,
        clip_model: nn.Module,
        hierarchy: Hierarchy,
        settings: HGCLIPSettings,
        prototypes: Optional[Tensor],
    ) -> None:
        p = settings.prompts
        super().__init__(clip_model, hierarchy.prompt_names(settings.name_style), p.n_ctx_text, p.n_ctx_vision,
                         p.depth_text, p.depth_vision, p.ctx_init)
        self.settings = settings
        dim = self.text_encoder.output_dim
        self.learner.text_gnn = build_graph_encoder(settings.text_gnn, dim)
        self.learner.image_gnn = build_graph_encoder(settings.image_gnn, dim) if settings.attention else None
        self.register_buffer(
            "text_edge_index",
            hierarchy.edge_index(settings.text_gnn.direction, settings.text_gnn.self_loops),
            persistent=False,
        )
        if self.learner.image_gnn is not None:
            self.register_buffer(
                "image_edge_index",
                hierarchy.edge_index(settings.image_gnn.direction, settings.image_gnn.self_loops),
                persistent=False,
            )
        self.attention = None
        self.has_prototypes = False
        if settings.attention:
            self.attention = PrototypeAttention(settings.alpha, settings.pooling, settings.normalize)
            self.register_buffer("prototypes", torch.zeros(hierarchy.num_nodes, dim), persistent=False)
            if prototypes is not None:
                self.set_prototypes(prototypes)

    def set_prototypes(self, prototypes: Tensor) -> None:
        """Set the node prototypes ``[K, D]`` (those of the training images, or those the model was trained with)."""
        if self.attention is None:
            raise ValueError("this HGCLIP model has no attention branch (ATTENTION.ENABLED False): no prototypes to set")
        if tuple(prototypes.shape) != tuple(self.prototypes.shape):
            raise ValueError(f"HGCLIP attention needs prototypes of shape {tuple(self.prototypes.shape)}, "
                             f"got {tuple(prototypes.shape)}")
        self.prototypes = prototypes.detach().float().to(self.prototypes.device)
        self.has_prototypes = True
        self.clear_cache()

    def node_text_features(self) -> Tensor:
        """Graph-refined, L2-normalised text features of every node ``[K, D]``."""
        text = self.prompted_text_features()
        if self.learner.text_gnn is not None:
            text = self.learner.text_gnn(text, self.text_edge_index)
        return F.normalize(text, dim=-1)

    def refined_prototypes(self) -> Tensor:
        """Prototypes after the image graph encoder ``[K, D]``."""
        if self.learner.image_gnn is None:
            return self.prototypes
        return self.learner.image_gnn(self.prototypes, self.image_edge_index)

    def forward(self, images: Tensor) -> Tensor:
        s = self.settings
        text = self.cached("text", self.node_text_features)
        scale = self.logit_scale.exp().float()
        if self.attention is None:
            image = self.encode_images(images).float()
            tokens = None
        else:
            image, tokens = self.encode_images(images, return_tokens=True,
                                               include_prompt_tokens=s.include_prompt_tokens)
            image, tokens = image.float(), tokens.float()
        if s.normalize:
            image = F.normalize(image, dim=-1)
        logits = s.lambda_global * scale * image @ text.t()
        if tokens is not None:
            if not self.has_prototypes:
                raise RuntimeError("HGCLIPModel: set_prototypes() must be called before the attention branch can run")
            attended = self.attention(tokens, self.cached("prototypes", self.refined_prototypes))
            if s.normalize:
                attended = F.normalize(attended, dim=-1)
            attn_scale = s.attn_logit_scale or scale
            logits = logits + s.lambda_attn * attn_scale * attended @ text.t()
        return logits
