"""HGCLIP (Xia et al., COLING 2025): the trainer, and how ``TRAINER.HGCLIP`` becomes its settings.

The model is :class:`hgclip.models.hgclip.HGCLIPModel`; the node prototypes come from
:mod:`hgclip.datasets.prototypes`, fed with the training split the data side provides.

``TRAINER.HGCLIP.MODE`` selects the paper's intent with the official code's defects
fixed (``default``) or an exact re-statement of the official forward (``official``).
The official mode is data: ``configs/official_mode.yaml`` pins its keys, and
:func:`resolve_mode` is the one place that applies them (the README has the table).
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import Any

import torch
from torch import nn
from yacs.config import CfgNode as CN

from ..backbones.identity import backbone_fingerprint
from ..common.config_io import flatten
from ..common.config_schema import Key, build, prefixed
from ..common.errors import InputError
from ..common.paths import config_dir
from ..config import deep_prompt_keys
from ..datasets.attach import dataset_hierarchy
from ..datasets.fingerprint import listing_fingerprint
from ..datasets.prototypes import (
    NodePrototypes,
    PrototypeOptions,
    build_node_prototypes,
    load_model_prototypes,
    save_model_prototypes,
    transfer_prototypes,
)
from ..engine.trainer import HierarchicalCLIPTrainer
from ..hierarchy import Hierarchy, check_name_style
from ..models.handcrafted import handcrafted_text_features
from ..models.hgclip import GraphSettings, HGCLIPModel, HGCLIPSettings, PromptSettings
from ..registry import register_trainer
from ..runtime import distributed as dist
from ..runtime.dassl_api import build_transform
from ..runtime.run_dir import PROTOTYPES_FILE, prototypes_path

MODES = ("default", "official")
SOURCES = ("auto", "all", "base", "new")
#: The keys TRAINER.HGCLIP.MODE official pins, as data (applied by :func:`resolve_mode`).
OFFICIAL_MODE_FILE = os.path.join(config_dir(), "official_mode.yaml")


# ---------------------------------------------------------------------- config keys
#: ``TEXT_GNN.*`` and ``IMAGE_GNN.*``: one graph encoder each
GRAPH_ENCODER_KEYS: tuple[Key, ...] = (
    Key("ENABLED", True, "use this graph encoder"),
    Key("TYPE", "gat", "graph convolution: `gat`, `gcn` or `sage`"),
    Key("LAYERS", 3, "graph convolution layers"),
    Key("HIDDEN_DIM", 0, "hidden width; `0` = twice the CLIP embedding width (512 -> 1024 for ViT-B/16; official "
        "mode: 1024 always)"),
    Key("HEADS", 8, "attention heads (`gat` only): concatenated in hidden layers, averaged in the last layer"),
    Key("ACTIVATION", "gelu", "`gelu`, `relu`, `elu`, `leaky_relu` or `none`"),
    Key("DROPOUT", 0.0, "dropout between the layers"),
    Key("EDGE_DIRECTION", "both", "the hierarchy's edges as messages: `both`, `parent_to_child` or `child_to_parent`"),
    Key("SELF_LOOPS", True, "add a self-loop to every node"),
    Key("RESIDUAL", False, "add the encoder's input to its output (not in the paper)"),
)

#: ``TRAINER.HGCLIP``, in the order the section lists them
HGCLIP_KEYS: tuple[Key, ...] = (
    *deep_prompt_keys(4, 4, 9, 9, "a photo of a"),
    Key("MODE", "default", "`default` or `official` (the official forward: `configs/official_mode.yaml` pins its "
        "keys; [the two modes](../guide/hgclip-modes.md))"),
    *prefixed("TEXT_GNN", GRAPH_ENCODER_KEYS),
    *prefixed("IMAGE_GNN", GRAPH_ENCODER_KEYS),
    Key("ATTENTION.ENABLED", True, "use the prototype attention"),
    Key("ATTENTION.ALPHA", 0.01, "temperature: softmax(tokens · prototypesᵀ / `ALPHA`); features are "
        "L2-normalised in default mode"),
    Key("ATTENTION.POOLING", "mean+max", "pooling of the attended tokens: `mean+max`, `mean` or `max`"),
    Key("ATTENTION.NORMALIZE", True, "L2-normalise tokens, prototypes and the global feature"),
    Key("ATTENTION.INCLUDE_PROMPT_TOKENS", True, "the vision prompt tokens are part of the token map (Eq. 9)"),
    Key("ATTENTION.LOGIT_SCALE", 0.0, "scale of the attended term; `0` = CLIP's logit scale"),
    Key("LAMBDA_GLOBAL", 1.0, "λ1 of Eq. 12: weight of the global term"),
    Key("LAMBDA_ATTN", 0.2, "λ2 of Eq. 12: weight of the attended term"),
    Key("PROTOTYPES.SOURCE", "auto", "whose training images the node prototypes average: `auto` (base when testing "
        "on new classes, which are never seen; else all), `all`, `base` or `new`"),
    Key("PROTOTYPES.TRANSFORM", "test", "preprocessing of the images averaged into prototypes: `test` or `train`"),
    Key("PROTOTYPES.NORMALIZE", True, "L2-normalise each image feature before averaging"),
    Key("PROTOTYPES.EMPTY", "text", "nodes without training images: `text` (CLIP text embedding), `zero` or "
        "`previous`"),
    Key("PROTOTYPES.EMPTY_TEMPLATE", "a photo of a {}.", "the prompt of the text surrogate"),
    Key("PROTOTYPES.CACHE_DIR", "", "where prototypes are cached; `\"\"` = `<dataset dir>/prototypes`"),
    Key("PROTOTYPES.BATCH_SIZE", 64, "images per batch while building prototypes"),
)


def hgclip_defaults() -> CN:
    """A fresh ``TRAINER.HGCLIP`` node with every default value."""
    return build(HGCLIP_KEYS)


def official_pins() -> CN:
    """The ``TRAINER.HGCLIP`` keys that ``MODE official`` pins (``configs/official_mode.yaml``)."""
    with open(OFFICIAL_MODE_FILE, encoding="utf-8") as handle:
        return CN.load_cfg(handle)


# ---------------------------------------------------------------------- settings
def resolve_mode(trainer_cfg: Any) -> Any:
    """``TRAINER.HGCLIP`` as the run uses it: unchanged in default mode, with the official pins in official mode.

    Each pinned key the user had set to something else (a value different from both the
    default and the pinned one) is named in a one-line warning.
    """
    mode = trainer_cfg.MODE
    if mode not in MODES:
        raise ValueError(f"TRAINER.HGCLIP.MODE must be one of {MODES}, got {mode!r}")
    if mode == "default":
        return trainer_cfg
    pins, defaults, given = flatten(official_pins()), flatten(hgclip_defaults()), flatten(trainer_cfg)
    for key, pinned in pins.items():
        if key not in given:
            raise KeyError(f"{OFFICIAL_MODE_FILE}: {key} is not a TRAINER.HGCLIP key")
        if given[key] != pinned and given[key] != defaults[key]:
            warnings.warn(f"TRAINER.HGCLIP.MODE official overrides TRAINER.HGCLIP.{key}={given[key]!r} with {pinned!r}",
                          stacklevel=2)
    node = trainer_cfg.clone()
    node.defrost()
    node.merge_from_other_cfg(official_pins())
    return node


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


def hgclip_settings(trainer_cfg: Any, embed_dim: int) -> HGCLIPSettings:
    """Resolve ``TRAINER.HGCLIP`` (after :func:`resolve_mode`) into the model's settings."""
    node = resolve_mode(trainer_cfg)
    check_name_style(node.NAME_STYLE, "TRAINER.HGCLIP.NAME_STYLE")
    att = node.ATTENTION
    return HGCLIPSettings(
        mode=node.MODE,
        name_style=node.NAME_STYLE,
        prompts=PromptSettings(int(node.N_CTX_TEXT), int(node.N_CTX_VISION), int(node.PROMPT_DEPTH_TEXT),
                               int(node.PROMPT_DEPTH_VISION), node.CTX_INIT),
        text_gnn=_graph_settings(node.TEXT_GNN, embed_dim),
        image_gnn=_graph_settings(node.IMAGE_GNN, embed_dim),
        attention=bool(att.ENABLED),
        alpha=float(att.ALPHA),
        pooling=att.POOLING,
        normalize=bool(att.NORMALIZE),
        include_prompt_tokens=bool(att.INCLUDE_PROMPT_TOKENS),
        attn_logit_scale=float(att.LOGIT_SCALE),
        lambda_global=float(node.LAMBDA_GLOBAL),
        lambda_attn=float(node.LAMBDA_ATTN),
    )


def check_hgclip_values(trainer_cfg: Any, prefix: str = "TRAINER.HGCLIP") -> None:
    """Refuse values of ``TRAINER.HGCLIP`` that would run meaninglessly or crash deep in the model, in one line.

    A negative loss weight trains the model away from the labels; a graph encoder with 0 heads divides by
    zero while it is built; a negative layer count or width, or a dropout outside [0, 1), has no meaning.
    """
    for key in ("LAMBDA_GLOBAL", "LAMBDA_ATTN"):
        if not float(trainer_cfg[key]) >= 0:
            raise InputError(f"{prefix}.{key} is {trainer_cfg[key]}: expected a loss weight >= 0")
    if not float(trainer_cfg.ATTENTION.ALPHA) > 0:
        raise InputError(f"{prefix}.ATTENTION.ALPHA is {trainer_cfg.ATTENTION.ALPHA}: expected a softmax "
                         "temperature > 0")
    if int(trainer_cfg.PROTOTYPES.BATCH_SIZE) < 1:
        raise InputError(f"{prefix}.PROTOTYPES.BATCH_SIZE is {trainer_cfg.PROTOTYPES.BATCH_SIZE}: expected >= 1")
    for gnn in ("TEXT_GNN", "IMAGE_GNN"):
        node = trainer_cfg[gnn]
        if not bool(node.ENABLED):
            continue
        for key, minimum, what in (("LAYERS", 1, "graph layers"), ("HEADS", 1, "attention heads"),
                                   ("HIDDEN_DIM", 0, "a width (0: twice the CLIP embedding width)")):
            if int(node[key]) < minimum:
                raise InputError(f"{prefix}.{gnn}.{key} is {node[key]}: expected {what} >= {minimum}")
        if not 0.0 <= float(node.DROPOUT) < 1.0:
            raise InputError(f"{prefix}.{gnn}.DROPOUT is {node.DROPOUT}: expected a probability in [0, 1)")


def prototype_options(trainer_cfg: Any) -> PrototypeOptions:
    """Resolve ``TRAINER.HGCLIP.PROTOTYPES`` (after :func:`resolve_mode`)."""
    proto = resolve_mode(trainer_cfg).PROTOTYPES
    return PrototypeOptions(transform=proto.TRANSFORM, normalize=bool(proto.NORMALIZE), empty=proto.EMPTY,
                            empty_template=proto.EMPTY_TEMPLATE, batch_size=int(proto.BATCH_SIZE))


def surrogate_names(trainer_cfg: Any, hierarchy: Hierarchy) -> list[str]:
    """The node names in the ``PROTOTYPES.EMPTY text`` surrogate's prompts: the same ``NAME_STYLE`` as the model's."""
    style = check_name_style(resolve_mode(trainer_cfg).NAME_STYLE, "TRAINER.HGCLIP.NAME_STYLE")
    return hierarchy.prompt_names(style)


# ---------------------------------------------------------------------- prototypes
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


def source_split(cfg: Any, dataset: Any, hierarchy: Hierarchy) -> tuple[list, Hierarchy]:
    """The training items that build the prototypes and their hierarchy (the data side's train split)."""
    source = prototype_source(cfg)
    if source == cfg.DATASET.SUBSAMPLE_CLASSES:
        return list(dataset.train_x), hierarchy
    if not hasattr(dataset, "class_subset_train"):
        raise ValueError(f"TRAINER.HGCLIP.PROTOTYPES.SOURCE={source} needs a hierarchical dataset "
                         f"({type(dataset).__name__} cannot give another class subset's training split)")
    print(f"Prototypes come from the '{source}' classes' training images (PROTOTYPES.SOURCE)")
    return dataset.class_subset_train(source)


def prototype_cache_key(cfg: Any, dataset: Any, clip_model: nn.Module, options: PrototypeOptions, transform: Any,
                        items: Any = None, source_hierarchy: Any = None, hierarchy: Any = None) -> dict:
    """Everything the prototypes depend on; any change gives another cache file."""
    hierarchy = dataset.hierarchy if hierarchy is None else hierarchy
    items = dataset.train_x if items is None else items
    source_hierarchy = hierarchy if source_hierarchy is None else source_hierarchy
    key = {
        "dataset": cfg.DATASET.NAME,
        "split": "train",
        "num_shots": int(cfg.DATASET.NUM_SHOTS),
        "seed": int(cfg.SEED),
        "subsample": cfg.DATASET.SUBSAMPLE_CLASSES,
        "subsample_rule": cfg.DATASET.SUBSAMPLE_RULE,
        "source": prototype_source(cfg),
        "images": listing_fingerprint(items, root=getattr(dataset, "dataset_dir", ""), file_stats=True),
        "source_hierarchy": source_hierarchy.digest(),
        "hierarchy": hierarchy.digest(),
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "backbone_weights": backbone_fingerprint(clip_model),
        "transform": repr(transform),
        "normalize": options.normalize,
        "empty": options.empty,
    }
    names = surrogate_names(cfg.TRAINER.HGCLIP, hierarchy)
    if options.empty == "text" and names != list(hierarchy.node_names):
        key["text_names"] = names  # only where the prompt spelling differs, so the caches of other trees stay valid
    return key


def prepare_prototypes(cfg: Any, dataset: Any, clip_model: nn.Module, device: torch.device,
                       progress: bool = True, hierarchy: Hierarchy | None = None) -> NodePrototypes:
    """Node prototypes for ``hierarchy`` (default: the dataset's) from the frozen, un-prompted CLIP (cached)."""
    target = dataset_hierarchy(dataset, cfg) if hierarchy is None else hierarchy
    options = prototype_options(cfg.TRAINER.HGCLIP)
    items, source_hierarchy = source_split(cfg, dataset, target)
    transform = build_transform(cfg, is_train=options.transform == "train")
    key = prototype_cache_key(cfg, dataset, clip_model, options, transform, items, source_hierarchy, target)
    default_dir = osp.join(getattr(dataset, "dataset_dir", None) or cfg.OUTPUT_DIR or ".", "prototypes")
    cache_dir = cfg.TRAINER.HGCLIP.PROTOTYPES.CACHE_DIR or default_dir

    def text_features() -> torch.Tensor:
        names = surrogate_names(cfg.TRAINER.HGCLIP, target)
        return handcrafted_text_features(clip_model, names, [[options.empty_template]] * len(names)).cpu()

    return build_node_prototypes(clip_model.encode_image, items, source_hierarchy, target, options, transform, device,
                                 key, cache_dir, text_features, int(cfg.DATALOADER.NUM_WORKERS), progress)


# ---------------------------------------------------------------------- trainer


@register_trainer
class HGCLIP(HierarchicalCLIPTrainer):
    """HGCLIP: hierarchical prompt learning with graph representations of the class hierarchy.

    Prototypes: a training run builds them from its own training split (before the first
    epoch) and saves them beside its checkpoints (``prototypes.pt``); an evaluation of a
    trained model (``load_model``: base-to-new ``new``, cross-dataset, domain generalisation)
    takes that model's prototypes, mapped to the evaluated nodes by name, so it never builds
    prototypes from the evaluated dataset's images. Anything else (evaluating an untrained
    model) builds them from the current dataset's training split on first use.
    """

    CFG_KEY = "HGCLIP"
    TABLE_ORDER = 8
    CONFIGS = {"tiny": "tiny_hiershapes", "base2new": "vit_b16_c4_ep5_batch4_4+4ctx", "paper": "vit_b16_ep50_paper"}

    @classmethod
    def config_section(cls) -> tuple[Key, ...]:
        """``TRAINER.HGCLIP``: its keys, defaults and help (added to the config by ``hgclip.config.extend_cfg``)."""
        return HGCLIP_KEYS

    @classmethod
    def check_config_values(cls, cfg: Any) -> None:
        """``TRAINER.HGCLIP``'s values, before anything is built (called by ``engine.config_checks.check_values``)."""
        check_hgclip_values(cfg.TRAINER[cls.CFG_KEY], f"TRAINER.{cls.CFG_KEY}")

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        embed_dim = int(clip_model.text_projection.shape[1])
        settings = hgclip_settings(self.trainer_cfg, embed_dim)
        print(f"HGCLIP mode: {settings.mode}")
        self._frozen_clip = clip_model
        self.node_prototypes = None
        return HGCLIPModel(clip_model, hierarchy, settings, None)

    def build_model(self) -> None:
        """The attention branch reads node prototypes: one artifact, kept beside the checkpoints (``prototypes.pt``)."""
        super().build_model()
        if self.model.attention is not None:
            self.checkpointer.add_artifact(prototypes_path, build=self._build_prototypes, save=self._save_prototypes,
                                           load=self._load_prototypes, use=self._use_prototypes)

    # ------------------------------------------------------------------ prototypes (the artifact)
    def _build_prototypes(self) -> NodePrototypes:
        """From this run's training split (cached), once, by rank 0, shared with every process."""
        if getattr(self.dm.dataset, "test_only", False):
            raise ValueError(
                f"DATASET.NAME {self.cfg.DATASET.NAME} is an evaluation-only dataset: HGCLIP never builds prototypes "
                "from test images; evaluate a trained model (--eval-only --model-dir <its run>, which holds "
                f"{PROTOTYPES_FILE})")
        self._frozen_clip.to(self.device)
        # never as inference tensors (a first call may come from test()), since training uses them with autograd
        with torch.inference_mode(False), torch.no_grad():
            return dist.compute_on_main(lambda: prepare_prototypes(
                self.cfg, self.dm.dataset, self._frozen_clip, self.device, hierarchy=self.hierarchy))

    def _save_prototypes(self, path: str, prototypes: NodePrototypes) -> None:
        save_model_prototypes(path, prototypes, prototype_options(self.trainer_cfg))

    def _load_prototypes(self, path: str) -> NodePrototypes:
        """A trained model's prototypes, mapped to the evaluated nodes by name (the others: ``PROTOTYPES.EMPTY``)."""
        options = prototype_options(self.trainer_cfg)
        target = self.hierarchy
        clip_model = self._frozen_clip.to(self.device)

        def text_features() -> torch.Tensor:
            names = surrogate_names(self.trainer_cfg, target)
            return handcrafted_text_features(clip_model, names, [[options.empty_template]] * len(names)).cpu()

        prototypes = transfer_prototypes(load_model_prototypes(path), target, options.empty, text_features)
        matched = int((prototypes.counts > 0).sum())
        print(f"Loaded the trained model's prototypes from {path}: {matched} of {target.num_nodes} nodes matched by "
              f"name, the others use PROTOTYPES.EMPTY={options.empty}")
        return prototypes

    def _use_prototypes(self, prototypes: NodePrototypes) -> None:
        self.node_prototypes = prototypes
        self.model.set_prototypes(prototypes.prototypes)

    def evaluation_fingerprints(self) -> dict:
        """Also the training split when the prototypes will be built from it (no prototypes file was loaded)."""
        inputs = super().evaluation_fingerprints()
        if self.model.attention is not None and not self.model.has_prototypes:
            inputs["training_images"] = self.input_fingerprints()["training_images"]
        return inputs
