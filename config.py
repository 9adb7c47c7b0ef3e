"""Every config key this project adds to Dassl's defaults.

Call :func:`extend_cfg` right after ``get_cfg_default()`` and before any
``merge_from_file`` (yacs rejects unknown keys). Each trainer's keys live under
``TRAINER.<NAME>`` as in CoOp/MaPLe; the README lists them all.
"""
from __future__ import annotations

import os

from yacs.config import CfgNode as CN

from .common.paths import config_dir

#: The keys TRAINER.HGCLIP.MODE official pins, as data (applied by hgclip.trainers.hgclip.resolve_mode).
OFFICIAL_MODE_FILE = os.path.join(config_dir(), "official_mode.yaml")


def _add_dataset_keys(cfg: CN) -> None:
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all | base | new
    cfg.DATASET.SUBSAMPLE_RULE = "cocoop"  # cocoop (first half of sorted leaf labels) | stratified (within each parent)
    cfg.DATASET.HIERARCHY_FILE = ""  # optional override of the dataset's hierarchy file
    cfg.DATASET.VAL_FRACTION = 0.1  # datasets without an official val split carve this fraction from train
    cfg.DATASET.HIERSHAPES = CN()
    cfg.DATASET.HIERSHAPES.SEED = 0  # the embedded synthetic dataset is generated from this seed
    cfg.DATASET.HIERIMAGEFOLDER = CN()
    cfg.DATASET.HIERIMAGEFOLDER.DIR = ""  # folder under DATASET.ROOT (or absolute) of a HierImageFolder dataset
    cfg.DATASET.DISPLAY_NAME = ""  # name in results.json and of configs/templates/<name>.json; "" = DATASET.NAME
    cfg.DATASET.TEMPLATES_FILE = ""  # the dataset's templates JSON; "" = configs/templates/<display name>.json
    cfg.DATASET.CHECK_IMAGES = "exists"  # exists (one stat per image) | header (PIL parses each header) | decode (PIL decodes each image)
    cfg.DATASET.SKIP_UNREADABLE = False  # drop images that fail CHECK_IMAGES and report their count, instead of stopping
    cfg.DATASET.WORDNET = CN()
    cfg.DATASET.WORDNET.DIR = ""  # folder of ImageNet's wordnet.is_a.txt and words.txt; "" = <DATASET.ROOT>/imagenet
    cfg.DATASET.WORDNET.LEVELS = 2  # levels of the ImageNet tree: the class and its LEVELS-1 nearest first-listed is_a ancestors
    cfg.DATASET.BREEDS = CN()
    cfg.DATASET.BREEDS.SPLIT = "source"  # source (train and test on the source subclasses) | target (test on the held-out subclasses)
    cfg.DATASET.BREEDS.SPLIT_TYPE = "good"  # how subclasses are divided, as in BREEDS: good | bad | rand (HGCLIP uses good)
    cfg.DATASET.BREEDS.INFO_DIR = ""  # class_hierarchy.txt, node_names.txt, dataset_class_info.json; "" = <DATASET.ROOT>/breeds
    cfg.DATASET.HIERCONFIG = CN()
    cfg.DATASET.HIERCONFIG.IMAGE_ROOT = ""  # images of a HierConfigDataset, under DATASET.ROOT or absolute
    cfg.DATASET.HIERCONFIG.SPLIT_FILE = ""  # "" = IMAGE_ROOT/{train,val,test}/<leaf>/ folders; else a .csv or .json list of (path, class, split)
    cfg.DATASET.HIERCONFIG.HIERARCHY = ""  # its hierarchy file: under DATASET.ROOT, absolute, or a file in datasets/hierarchies/
    cfg.DATASET.VERIFY_IMAGES = True  # decode every listed image once before training (a corrupt file stops the run)


def _add_model_keys(cfg: CN) -> None:
    cfg.MODEL.BACKBONE.PATH = ""  # local CLIP weights file (.pt); "" = use NAME
    cfg.MODEL.BACKBONE.DOWNLOAD_ROOT = ""  # where clip.load looks for / downloads weights; "" = ~/.cache/clip


def _add_test_keys(cfg: CN) -> None:
    # independent (per-level argmax, as HGCLIP) | bottom_up | top_down | path; top_down and path give valid paths
    cfg.TEST.DECODING = "independent"
    cfg.TEST.TREE_CUTS = CN()
    cfg.TEST.TREE_CUTS.NUM = 25  # random tree cuts for the mean tree-cut accuracy (ProTeCt's 25); 0 = no MTA
    cfg.TEST.TREE_CUTS.SEED = 0  # the cuts' own seed, independent of SEED, so every run is scored on the same cuts
    cfg.TEST.CONFUSIONS_TOP_K = 10  # most-confused pairs per level in confusions.json; 0 = no confusions.json
    cfg.TEST.PLOT_PER_LEVEL = False  # write per_level.png (per-level top-1, HCA, full path) beside results.json


def _prompt_keys(node: CN, n_ctx_text: int, n_ctx_vision: int, depth_text: int, depth_vision: int,
                 ctx_init: str, prec: str = "fp16") -> CN:
    """Keys shared by the deep-prompt trainers (IVLP style)."""
    node.N_CTX_TEXT = n_ctx_text
    node.N_CTX_VISION = n_ctx_vision
    node.PROMPT_DEPTH_TEXT = depth_text
    node.PROMPT_DEPTH_VISION = depth_vision
    node.CTX_INIT = ctx_init
    node.PREC = prec
    node.LEVEL_WEIGHTS = []  # [] = finest level x2, others x1; the weighted sum is divided by the number of levels
    return node


def _graph_encoder_keys() -> CN:
    node = CN()
    node.ENABLED = True
    node.TYPE = "gat"  # gat | gcn | sage
    node.LAYERS = 3
    node.HIDDEN_DIM = 0  # 0 = twice the CLIP embedding width (512 -> 1024 for ViT-B/16; official mode: 1024 always)
    node.HEADS = 8  # gat only; heads are concatenated in hidden layers and averaged in the last layer
    node.ACTIVATION = "gelu"  # gelu | relu | elu | leaky_relu | none
    node.DROPOUT = 0.0
    node.EDGE_DIRECTION = "both"  # both | parent_to_child | child_to_parent
    node.SELF_LOOPS = True
    node.RESIDUAL = False  # add the encoder's input to its output (not in the paper)
    return node


def _add_hgclip_keys(cfg: CN) -> None:
    node = _prompt_keys(CN(), 4, 4, 9, 9, "a photo of a")
    node.MODE = "default"  # default | official (the official forward: configs/official_mode.yaml pins the keys; see README)
    node.NAME_STYLE = "normalized"  # class names in prompts: normalized (_ and - -> space) | official (only _ -> space)
    node.TEXT_GNN = _graph_encoder_keys()
    node.IMAGE_GNN = _graph_encoder_keys()
    node.ATTENTION = CN()
    node.ATTENTION.ENABLED = True
    node.ATTENTION.ALPHA = 0.01  # softmax(tokens . prototypes^T / ALPHA); features are L2-normalised in default mode
    node.ATTENTION.POOLING = "mean+max"  # mean | max | mean+max
    node.ATTENTION.NORMALIZE = True  # L2-normalise tokens, prototypes and the global feature
    node.ATTENTION.INCLUDE_PROMPT_TOKENS = True  # the vision prompt tokens are part of the token map (Eq. 9)
    node.ATTENTION.LOGIT_SCALE = 0.0  # scale of the attended term; 0 = CLIP's logit scale
    node.LAMBDA_GLOBAL = 1.0  # lambda_1
    node.LAMBDA_ATTN = 0.2  # lambda_2
    node.PROTOTYPES = CN()
    node.PROTOTYPES.SOURCE = "auto"  # whose training images: auto (base when testing new) | all | base | new
    node.PROTOTYPES.TRANSFORM = "test"  # test | train: preprocessing of the images averaged into prototypes
    node.PROTOTYPES.NORMALIZE = True  # L2-normalise each image feature before averaging
    node.PROTOTYPES.EMPTY = "text"  # nodes without training images: text (CLIP text embedding) | zero | previous
    node.PROTOTYPES.EMPTY_TEMPLATE = "a photo of a {}."  # prompt of the text surrogate
    node.PROTOTYPES.CACHE_DIR = ""  # "" = <dataset dir>/prototypes
    node.PROTOTYPES.BATCH_SIZE = 64
    cfg.TRAINER.HGCLIP = node


def _add_coop_keys(cfg: CN) -> None:
    node = CN()
    node.N_CTX = 16
    node.CTX_INIT = ""
    node.CSC = False  # class-specific context (cannot transfer to new classes)
    node.PREC = "fp16"
    node.LEVEL_WEIGHTS = []
    cfg.TRAINER.COOP = node


def _add_zeroshot_keys(cfg: CN) -> None:
    node = CN()
    node.TEMPLATES_FILE = ""  # "" = configs/templates/<DATASET.NAME>.json, else configs/templates/default.json
    node.PREC = "fp16"
    cfg.TRAINER.ZEROSHOTCLIP = node


def _add_ivlp_keys(cfg: CN) -> None:
    cfg.TRAINER.IVLP = _prompt_keys(CN(), 2, 2, 9, 9, "a photo of a")


def _add_cocoop_keys(cfg: CN) -> None:
    node = CN()
    node.N_CTX = 4  # CoCoOp's published config (vit_b16_c4_ep10_batch1_ctxv1)
    node.CTX_INIT = "a photo of a"
    node.PREC = "fp16"
    node.LEVEL_WEIGHTS = []
    cfg.TRAINER.COCOOP = node


def _add_maple_keys(cfg: CN) -> None:
    node = CN()
    node.N_CTX = 2  # text prompt tokens per layer; the vision prompts are projections of them
    node.CTX_INIT = "a photo of a"
    node.PREC = "fp16"
    node.PROMPT_DEPTH = 9  # prompted layers in both branches (input level + 8 deep)
    node.LEVEL_WEIGHTS = []
    cfg.TRAINER.MAPLE = node


def _add_vpt_keys(cfg: CN) -> None:
    node = CN()
    node.N_CTX_VISION = 8  # MaPLe's VPT config (vit_b16_c2_ep5_batch4_4)
    node.PROMPT_DEPTH_VISION = 12
    node.CTX_INIT = "a photo of a"  # frozen text prompt: "<CTX_INIT> <name>."
    node.PREC = "fp16"
    node.LEVEL_WEIGHTS = []
    cfg.TRAINER.VPT = node


def _add_kgcoop_keys(cfg: CN) -> None:
    node = CN()
    node.N_CTX = 4
    node.CTX_INIT = "a photo of a"
    node.CSC = False
    node.PREC = "fp16"
    node.W = 8.0  # weight of mean ||g - g_clip||^2 (paper Eq. 5; the official code's 1 - cos is half of it)
    node.TEMPLATE = "a photo of a {}."  # hand-crafted prompt whose frozen features anchor the learned ones
    node.LEVEL_WEIGHTS = []
    cfg.TRAINER.KGCOOP = node


def _add_promptsrc_keys(cfg: CN) -> None:
    node = _prompt_keys(CN(), 4, 4, 9, 9, "a photo of a")
    # ints as in PromptSRC's train.py and YAMLs (yacs does not merge an int into a float key)
    node.TEXT_LOSS_WEIGHT = 25  # L1(prompted text features, frozen CLIP text features)
    node.IMAGE_LOSS_WEIGHT = 10  # L1(prompted image features, frozen CLIP image features)
    node.KL_LOSS_WEIGHT = 1.0  # per-level KL(zero-shot softmax || prompted softmax)
    node.GPA_MEAN = 15  # Gaussian prompt aggregation over epochs (1-based), for a GPA_REF_EPOCHS schedule
    node.GPA_STD = 1
    node.GPA_REF_EPOCHS = 20  # MEAN/STD are scaled by MAX_EPOCH / GPA_REF_EPOCHS; 0 = use them as given
    node.TEMPLATES_FILE = ""  # teacher text templates; "" = configs/templates/<DATASET.NAME>.json or default.json
    cfg.TRAINER.PROMPTSRC = node


def extend_cfg(cfg: CN, keep_existing: bool = False) -> CN:
    """Add the project's keys to a Dassl default config (in place) and return it.

    ``keep_existing``: add only the keys ``cfg`` lacks, leaving every existing key and value as it
    is. That is how a CoOp/MaPLe/PromptSRC checkout's config, which already has its own
    ``TRAINER.COOP``, ``TRAINER.MAPLE``, ``DATASET.SUBSAMPLE_CLASSES``, ... gets this project's
    keys (``hgclip.plugin.extend_cfg``); the hierarchical baselines then read the checkout's nodes.
    """
    if keep_existing:
        ours = extend_cfg(cfg.clone())
        _add_missing(cfg, ours)
        return cfg
    _add_dataset_keys(cfg)
    _add_model_keys(cfg)
    _add_test_keys(cfg)
    cfg.TRAIN.CHECKPOINT_FREQ_ITERS = 0  # > 0: also write a resume point every this many iterations
    _add_zeroshot_keys(cfg)
    _add_coop_keys(cfg)
    _add_ivlp_keys(cfg)
    _add_hgclip_keys(cfg)
    _add_cocoop_keys(cfg)
    _add_maple_keys(cfg)
    _add_vpt_keys(cfg)
    _add_kgcoop_keys(cfg)
    _add_promptsrc_keys(cfg)
    return cfg


def _add_missing(cfg: CN, ours: CN) -> None:
    for key, value in ours.items():
        if key not in cfg:
            cfg[key] = value.clone() if isinstance(value, CN) else value
        elif isinstance(value, CN) and isinstance(cfg[key], CN):
            _add_missing(cfg[key], value)


def dataset_display_name(cfg: CN) -> str:
    """The dataset's name in results and for its templates file: ``DATASET.DISPLAY_NAME`` or ``DATASET.NAME``.

    Two datasets registered under one class (e.g. two ``HierConfigDataset`` configs) differ only here.
    """
    return str(cfg.DATASET.get("DISPLAY_NAME", "") or cfg.DATASET.NAME)


def merge_dataset_trainer_keys(cfg: CN, dataset_config_file: str) -> None:
    """Re-apply the ``TRAINER`` section of a dataset YAML on top of the trainer YAML.

    A dataset config may set dataset-specific trainer keys (HGCLIP's context words per dataset,
    ``TRAINER.HGCLIP.CTX_INIT``). Merged first, as in Dassl, they would be overwritten by the
    generic values of every trainer YAML; merging them again after the trainer YAML gives the order
    defaults < dataset YAML < trainer YAML < dataset YAML's TRAINER keys < command line.
    """
    with open(dataset_config_file, "r", encoding="utf-8") as handle:
        loaded = CN.load_cfg(handle)
    if "TRAINER" in loaded:
        cfg.merge_from_other_cfg(CN({"TRAINER": loaded.TRAINER}))


def get_cfg() -> CN:
    """Dassl's defaults plus this project's keys (a fresh, unfrozen copy)."""
    from .engine.dassl_api import get_cfg_default

    return extend_cfg(get_cfg_default())


def hgclip_defaults() -> CN:
    """A fresh ``TRAINER.HGCLIP`` node with every default value."""
    holder = CN()
    holder.TRAINER = CN()
    _add_hgclip_keys(holder)
    return holder.TRAINER.HGCLIP



def official_pins() -> CN:
    """The ``TRAINER.HGCLIP`` keys that ``MODE official`` pins (``configs/official_mode.yaml``)."""
    with open(OFFICIAL_MODE_FILE, encoding="utf-8") as handle:
        return CN.load_cfg(handle)
