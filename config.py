"""The config keys this project adds to Dassl's defaults: the shared ones here, each trainer's from the trainer.

Call :func:`extend_cfg` right after ``get_cfg_default()`` and before any
``merge_from_file`` (yacs rejects unknown keys). Each trainer's keys live under
``TRAINER.<CFG_KEY>`` as in CoOp/MaPLe, declared by the trainer class itself
(its ``config_section()`` classmethod): :func:`extend_cfg` adds the section of every registered
trainer, so a new trainer needs no edit here (``hgclip.project.config_keys`` lists every key with
its default and who declares it: what the documentation lists).
"""
from __future__ import annotations

from yacs.config import CfgNode as CN

from .registry import trainer_sections

#: Keys that were removed, with what replaces them: a config that still sets one stops with one line.
REMOVED_KEYS = {
    "DATASET.VERIFY_IMAGES": ("DATASET.CHECK_IMAGES", ("VERIFY_IMAGES True is now CHECK_IMAGES decode (decode every "
                                                       "image before training); False is CHECK_IMAGES exists, the default")),
}


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
    # exists (one stat per image, the default) | header (PIL parses each header) | decode (PIL decodes every image)
    cfg.DATASET.CHECK_IMAGES = "exists"
    cfg.DATASET.SKIP_UNREADABLE = False  # drop images that fail CHECK_IMAGES (any mode) and report their count, instead of stopping
    cfg.DATASET.WORDNET = CN()
    cfg.DATASET.WORDNET.DIR = ""  # folder of ImageNet's wordnet.is_a.txt and words.txt; "" = <DATASET.ROOT>/imagenet
    cfg.DATASET.WORDNET.LEVELS = 2  # levels of the ImageNet tree: the class and its LEVELS-1 nearest first-listed is_a ancestors
    cfg.DATASET.BREEDS = CN()
    cfg.DATASET.BREEDS.SPLIT = "source"  # source (train and test on the source subclasses) | target (test on the held-out subclasses)
    cfg.DATASET.BREEDS.SPLIT_TYPE = "good"  # how subclasses are divided, as in BREEDS: good | bad | rand (HGCLIP uses good)
    cfg.DATASET.BREEDS.INFO_DIR = ""  # class_hierarchy.txt, node_names.txt, dataset_class_info.json; "" = <DATASET.ROOT>/breeds
    cfg.DATASET.HIERCONFIG = CN()
    cfg.DATASET.HIERCONFIG.IMAGE_ROOT = ""  # images of a HierConfigDataset, under DATASET.ROOT or absolute
    # "" = IMAGE_ROOT/{train,val,test}/<leaf>/ folders; else a .csv or .json list of (path, class, split)
    cfg.DATASET.HIERCONFIG.SPLIT_FILE = ""
    cfg.DATASET.HIERCONFIG.HIERARCHY = ""  # its hierarchy file: under DATASET.ROOT, absolute, or a file in datasets/hierarchies/
    cfg.DATASET.HIERCONFIG.ALLOW_DUPLICATES = False  # keep an image listed twice or in two splits (default: refuse)


def _add_model_keys(cfg: CN) -> None:
    cfg.MODEL.BACKBONE.PATH = ""  # local CLIP weights file (.pt); "" = use NAME
    cfg.MODEL.BACKBONE.DOWNLOAD_ROOT = ""  # where clip.load looks for / downloads weights; "" = ~/.cache/clip


def _add_test_keys(cfg: CN) -> None:
    # independent (per-level argmax, as HGCLIP) | bottom_up | top_down | path | chils | chils_hat | chils_supagg
    # (CHiLS: coarse classes through their leaves); only top_down and path give valid paths
    cfg.TEST.DECODING = "independent"
    cfg.TEST.TREE_CUTS = CN()
    cfg.TEST.TREE_CUTS.NUM = 25  # random tree cuts for the mean tree-cut accuracy (ProTeCt's 25); 0 = no MTA
    cfg.TEST.TREE_CUTS.SEED = 0  # the cuts' own seed, independent of SEED, so every run is scored on the same cuts
    cfg.TEST.CONFUSIONS_TOP_K = 10  # most-confused pairs per level in confusions.json; 0 = no confusions.json
    cfg.TEST.PLOT_PER_LEVEL = False  # write per_level.png (per-level top-1, HCA, full path) beside results.json
    # Dassl's TEST.PER_CLASS_RESULT (per-class accuracy of every level: log and results.json) and TEST.COMPUTE_CMAT
    # (cmat.json, one confusion matrix per level) are Dassl defaults, honoured by the Hierarchical evaluator
    cfg.TEST.SAVE_PREDICTIONS = False  # write predictions.jsonl: per sample, image path, true/predicted path, per-level top-5
    # write report.html beside results.json: per-level table, the tree coloured by accuracy, the most confused pairs with
    # their lowest common ancestor (and example images with TEST.SAVE_PREDICTIONS); one self-contained file
    cfg.TEST.HTML_REPORT = True


def _add_loss_keys(cfg: CN) -> None:
    """``LOSS``: training objectives every trainer can add to its per-level cross-entropy (off by default)."""
    cfg.LOSS = CN()
    cfg.LOSS.PROTECT = CN()  # ProTeCt (CVPR 2024); its own recipe: NODE_WEIGHT 0.5, TREECUT_WEIGHT 1.0, DROP_RATE 0.1
    cfg.LOSS.PROTECT.NODE_WEIGHT = 0.0  # node-centric loss: softmax over each internal node's children on the true path
    cfg.LOSS.PROTECT.TREECUT_WEIGHT = 0.0  # dynamic tree-cut loss: softmax over a random tree cut drawn per step
    cfg.LOSS.PROTECT.DROP_RATE = 0.1  # the cut sampler's probability that an internal node is kept whole (not expanded)
    cfg.LOSS.PROTECT.CUT_SCORES = "node"  # a cut node's score: node (its own logit, as ProTeCt) | leaf_sum (logsumexp of its leaves)


def deep_prompt_keys(node: CN, n_ctx_text: int, n_ctx_vision: int, depth_text: int, depth_vision: int,
                     ctx_init: str, prec: str = "fp16") -> CN:
    """Keys shared by the deep-prompt trainers' sections (IVLP style: IVLP, HGCLIP, PromptSRC); returns ``node``."""
    node.N_CTX_TEXT = n_ctx_text
    node.N_CTX_VISION = n_ctx_vision
    node.PROMPT_DEPTH_TEXT = depth_text
    node.PROMPT_DEPTH_VISION = depth_vision
    node.CTX_INIT = ctx_init
    node.PREC = prec
    node.NAME_STYLE = "official"  # names in prompts: official (only _ -> space) | normalized (_ and - -> space)
    node.LEVEL_WEIGHTS = []  # [] = finest level x2, others x1; the weighted sum is divided by the number of levels
    return node


def _add_trainer_keys(cfg: CN) -> None:
    """``TRAINER.<CFG_KEY>`` of every registered trainer, as it declares it.

    Importing a trainer's module registers it: ``hgclip.project`` (this repository's tools) and
    ``hgclip.plugin`` (a checkout) import the shipped ones before they build a config.
    """
    sections = trainer_sections()
    if not sections:
        raise RuntimeError("no trainer is registered: import hgclip.project (or hgclip.trainers) before extend_cfg")
    for section in sections:
        cfg.TRAINER[section.key] = section.node


def _register_removed_keys(cfg: CN) -> None:
    for key, (replacement, note) in REMOVED_KEYS.items():
        if not cfg.key_is_renamed(key):
            cfg.register_renamed_key(key, replacement, note)


def extend_cfg(cfg: CN, keep_existing: bool = False) -> CN:
    """Add the project's keys to a Dassl default config (in place) and return it.

    ``keep_existing``: add only the keys ``cfg`` lacks, leaving every existing key and value as it
    is. That is how a CoOp/MaPLe/PromptSRC checkout's config, which already has its own
    ``TRAINER.COOP``, ``TRAINER.MAPLE``, ``DATASET.SUBSAMPLE_CLASSES``, ... gets this project's
    keys (``hgclip.plugin.extend_cfg``); the hierarchical baselines then read the checkout's nodes.
    """
    _register_removed_keys(cfg)
    if keep_existing:
        ours = extend_cfg(cfg.clone())
        _add_missing(cfg, ours)
        return cfg
    _add_shared_keys(cfg)
    _add_trainer_keys(cfg)
    return cfg


def _add_shared_keys(cfg: CN) -> None:
    """The keys every trainer shares (datasets, model, test, train)."""
    _add_dataset_keys(cfg)
    _add_model_keys(cfg)
    _add_test_keys(cfg)
    _add_loss_keys(cfg)
    cfg.TRAIN.CHECKPOINT_FREQ_ITERS = 0  # > 0: also write a resume point every this many iterations


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
