"""HGCLIP (Xia et al., COLING 2025): deep V-L prompts + graph encoders over the class hierarchy.

The model (``HGCLIPModel``) is :class:`~trainers.ivlp.DeepPromptCLIP` plus

1. a text graph encoder over the prompted text features of every node;
2. visual prototypes (mean frozen-CLIP image feature under each node), refined by
   an image graph encoder;
3. prototype attention: image tokens attend over the refined prototypes and the
   pooled result adds a ``LAMBDA_ATTN``-weighted logit term.

``TRAINER.HGCLIP.MODE`` selects the paper's intent with the official code's
defects fixed (``default``) or an exact re-statement of the official forward
(``official``); :func:`hgclip_settings` is the one place where the two differ,
and the README has the table.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, replace
from typing import Any, Optional

import clip
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from backbones.prompted_clip import encode_text_plain
from dassl_compat import TRAINER_REGISTRY, build_data_loader, build_dataset, build_transform
from hierarchy import Hierarchy

from .base import HierarchicalCLIPTrainer
from .ivlp import DeepPromptCLIP
from .modules import GraphEncoder, PrototypeAttention
from .modules.prototypes import (
    NodePrototypes,
    backbone_fingerprint,
    cache_file,
    compute_node_prototypes,
    items_fingerprint,
    load_cached,
    save_cached,
)

MODES = ("default", "official")


# ---------------------------------------------------------------------- settings
@dataclass(frozen=True)
class GraphSettings:
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
    """Everything that defines the HGCLIP forward, resolved from the config and the mode."""

    mode: str
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
    proto_transform: str
    proto_normalize: bool
    proto_empty: str


def _graph_settings(node: Any, embed_dim: int) -> GraphSettings:
    return GraphSettings(
        enabled=bool(node.ENABLED),
        conv=node.TYPE,
        layers=int(node.LAYERS),
        hidden_dim=int(node.HIDDEN_DIM) or 2 * embed_dim,
        heads=int(node.HEADS),
        activation=node.ACTIVATION,
        dropout=float(node.DROPOUT),
        direction=node.EDGE_DIRECTION,
        self_loops=bool(node.SELF_LOOPS),
        residual=bool(node.RESIDUAL),
    )


def _official_graph(graph: GraphSettings, embed_dim: int) -> GraphSettings:
    """The official GNNs' effective path: single-head GAT D->2D->2D->D, GELU, messages parent->child."""
    return replace(graph, conv="gat", layers=3, hidden_dim=2 * embed_dim, heads=1, activation="gelu",
                   dropout=0.0, direction="parent_to_child", self_loops=True, residual=False)


def hgclip_settings(trainer_cfg: Any, embed_dim: int) -> HGCLIPSettings:
    """Resolve ``TRAINER.HGCLIP`` into settings; ``MODE=official`` pins the official forward."""
    mode = trainer_cfg.MODE
    if mode not in MODES:
        raise ValueError(f"TRAINER.HGCLIP.MODE must be one of {MODES}, got {mode!r}")
    att, proto = trainer_cfg.ATTENTION, trainer_cfg.PROTOTYPES
    settings = HGCLIPSettings(
        mode=mode,
        text_gnn=_graph_settings(trainer_cfg.TEXT_GNN, embed_dim),
        image_gnn=_graph_settings(trainer_cfg.IMAGE_GNN, embed_dim),
        attention=bool(att.ENABLED),
        alpha=float(att.ALPHA),
        pooling=att.POOLING,
        normalize=bool(att.NORMALIZE),
        include_prompt_tokens=bool(att.INCLUDE_PROMPT_TOKENS),
        attn_logit_scale=float(att.LOGIT_SCALE),
        lambda_global=float(trainer_cfg.LAMBDA_GLOBAL),
        lambda_attn=float(trainer_cfg.LAMBDA_ATTN),
        proto_transform=proto.TRANSFORM,
        proto_normalize=bool(proto.NORMALIZE),
        proto_empty=proto.EMPTY,
    )
    if mode == "official":
        settings = replace(
            settings,
            text_gnn=_official_graph(settings.text_gnn, embed_dim),
            image_gnn=_official_graph(settings.image_gnn, embed_dim),
            alpha=0.5,
            pooling="mean+max",
            normalize=False,
            include_prompt_tokens=True,
            attn_logit_scale=100.0,
            lambda_global=1.0,
            lambda_attn=0.2,
            proto_transform="train",
            proto_normalize=False,
            proto_empty="previous",
        )
    if settings.proto_transform not in ("train", "test"):
        raise ValueError(f"TRAINER.HGCLIP.PROTOTYPES.TRANSFORM must be train or test, got {settings.proto_transform!r}")
    return settings


# ---------------------------------------------------------------------- model
def _graph_encoder(graph: GraphSettings, dim: int) -> Optional[GraphEncoder]:
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
    (see :func:`hgclip_settings`). A disabled component is the identity (graph
    encoders) or drops its term (attention); with all three disabled this is IVLP.

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    def __init__(
        self,
        clip_model: nn.Module,
        hierarchy: Hierarchy,
        trainer_cfg: Any,
        settings: HGCLIPSettings,
        prototypes: Optional[Tensor],
    ) -> None:
        super().__init__(clip_model, list(hierarchy.node_names), trainer_cfg.N_CTX_TEXT, trainer_cfg.N_CTX_VISION,
                         trainer_cfg.PROMPT_DEPTH_TEXT, trainer_cfg.PROMPT_DEPTH_VISION, trainer_cfg.CTX_INIT)
        self.settings = settings
        dim = self.text_encoder.output_dim
        self.learner.text_gnn = _graph_encoder(settings.text_gnn, dim)
        self.learner.image_gnn = _graph_encoder(settings.image_gnn, dim) if settings.attention else None
        self.register_buffer(
            "text_edge_index",
            hierarchy.edge_index(settings.text_gnn.direction, settings.text_gnn.self_loops),
            persistent=False,
        )
        self.register_buffer(
            "image_edge_index",
            hierarchy.edge_index(settings.image_gnn.direction, settings.image_gnn.self_loops),
            persistent=False,
        )
        self.attention = None
        if settings.attention:
            if prototypes is None or prototypes.shape != (hierarchy.num_nodes, dim):
                raise ValueError(f"HGCLIP attention needs prototypes of shape ({hierarchy.num_nodes}, {dim})")
            self.attention = PrototypeAttention(settings.alpha, settings.pooling, settings.normalize)
            self.register_buffer("prototypes", prototypes.float(), persistent=False)

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
            attended = self.attention(tokens, self.cached("prototypes", self.refined_prototypes))
            if s.normalize:
                attended = F.normalize(attended, dim=-1)
            attn_scale = s.attn_logit_scale or scale
            logits = logits + s.lambda_attn * attn_scale * attended @ text.t()
        return logits


# ---------------------------------------------------------------------- prototypes
SOURCES = ("auto", "all", "base", "new")


def prototype_source(cfg: Any) -> str:
    """Whose training images build the prototypes (``PROTOTYPES.SOURCE``).

    ``auto``: the evaluated classes' own, except when testing on ``new`` classes:
    in base-to-new the model never sees new-class images, so the prototypes come
    from the base classes' training images (shared ancestors keep them; the new
    nodes get the ``PROTOTYPES.EMPTY`` surrogate).
    """
    source = cfg.TRAINER.HGCLIP.PROTOTYPES.SOURCE
    if source not in SOURCES:
        raise ValueError(f"TRAINER.HGCLIP.PROTOTYPES.SOURCE must be one of {SOURCES}, got {source!r}")
    if source != "auto":
        return source
    return "base" if cfg.DATASET.SUBSAMPLE_CLASSES == "new" else cfg.DATASET.SUBSAMPLE_CLASSES


def source_dataset(cfg: Any, dataset: Any) -> Any:
    """The dataset whose training split builds the prototypes (``dataset`` itself unless SOURCE differs)."""
    source = prototype_source(cfg)
    if source == cfg.DATASET.SUBSAMPLE_CLASSES:
        return dataset
    source_cfg = cfg.clone()
    source_cfg.defrost()
    source_cfg.DATASET.SUBSAMPLE_CLASSES = source
    print(f"Prototypes come from the '{source}' classes' training images (PROTOTYPES.SOURCE)")
    return build_dataset(source_cfg)


def prototype_cache_key(cfg: Any, dataset: Any, clip_model: nn.Module, settings: HGCLIPSettings, transform: Any,
                        source: Any = None) -> dict:
    """Everything the prototypes depend on; any change gives another cache file."""
    source = dataset if source is None else source
    return {
        "dataset": cfg.DATASET.NAME,
        "split": "train",
        "num_shots": int(cfg.DATASET.NUM_SHOTS),
        "seed": int(cfg.SEED),
        "subsample": cfg.DATASET.SUBSAMPLE_CLASSES,
        "subsample_rule": cfg.DATASET.SUBSAMPLE_RULE,
        "source": prototype_source(cfg),
        "images": items_fingerprint(source.train_x, getattr(source, "dataset_dir", "")),
        "source_hierarchy": source.hierarchy.digest(),
        "hierarchy": dataset.hierarchy.digest(),
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "backbone_weights": backbone_fingerprint(clip_model),
        "transform": repr(transform),
        "normalize": settings.proto_normalize,
        "empty": settings.proto_empty,
    }


def prepare_prototypes(
    cfg: Any, dataset: Any, clip_model: nn.Module, settings: HGCLIPSettings, device: torch.device,
    progress: bool = True,
) -> NodePrototypes:
    """Node prototypes from the training split with the frozen, un-prompted CLIP (cached)."""
    hierarchy = dataset.hierarchy
    source = source_dataset(cfg, dataset)
    transform = build_transform(cfg, is_train=settings.proto_transform == "train")
    key = prototype_cache_key(cfg, dataset, clip_model, settings, transform, source)
    cache_dir = cfg.TRAINER.HGCLIP.PROTOTYPES.CACHE_DIR or osp.join(getattr(dataset, "dataset_dir", "."), "prototypes")
    path = cache_file(cache_dir, key)
    cached = load_cached(path, key, hierarchy)
    if cached is not None:
        print(f"Loaded node prototypes from {path}")
        return cached

    print(f"Computing node prototypes for {hierarchy.num_nodes} nodes from {len(source.train_x)} training images")
    loader = build_data_loader(
        cfg, sampler_type="SequentialSampler", data_source=source.train_x,
        batch_size=cfg.TRAINER.HGCLIP.PROTOTYPES.BATCH_SIZE, tfm=transform, is_train=False,
    )
    context_length = int(clip_model.positional_embedding.shape[0])
    with torch.no_grad():
        tokens = clip.tokenize([f"a photo of a {name}." for name in hierarchy.node_names], context_length=context_length)
        text_features = encode_text_plain(clip_model, tokens.to(device)).float().cpu()
    prototypes = compute_node_prototypes(
        clip_model.encode_image, loader, source.hierarchy, hierarchy, device, settings.proto_normalize,
        settings.proto_empty, text_features, key, progress,
    )
    if prototypes.empty_nodes:
        names = [hierarchy.node_names[i] for i in prototypes.empty_nodes[:5]]
        print(f"{len(prototypes.empty_nodes)} node(s) have no training images (e.g. {names}); "
              f"surrogate: PROTOTYPES.EMPTY={settings.proto_empty}")
    save_cached(path, prototypes)
    print(f"Saved node prototypes to {path}")
    return prototypes


# ---------------------------------------------------------------------- trainer
@TRAINER_REGISTRY.register()
class HGCLIP(HierarchicalCLIPTrainer):
    """HGCLIP: hierarchical prompt learning with graph representations of the class hierarchy."""

    CFG_KEY = "HGCLIP"

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        embed_dim = int(clip_model.text_projection.shape[1])
        settings = hgclip_settings(self.trainer_cfg, embed_dim)
        print(f"HGCLIP mode: {settings.mode}")
        prototypes = None
        if settings.attention:
            clip_model.to(self.device)
            prototypes = prepare_prototypes(self.cfg, self.dm.dataset, clip_model, settings, self.device).prototypes
        return HGCLIPModel(clip_model, hierarchy, self.trainer_cfg, settings, prototypes)
