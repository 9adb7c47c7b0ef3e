"""The config keys this project adds to Dassl's defaults: the shared ones here, each trainer's from the trainer.

Every key is declared once, as data: a :class:`~hgclip.common.config_schema.Key` with its
default and help text (:data:`SHARED_KEYS`). Call :func:`extend_cfg` right after
``get_cfg_default()`` and before any ``merge_from_file`` (yacs rejects unknown keys). Each
trainer's keys live under ``TRAINER.<CFG_KEY>`` as in CoOp/MaPLe, declared by the trainer class
itself (its ``config_section()`` classmethod, built from the same ``Key``): :func:`extend_cfg` adds
the section of every registered trainer, so a new trainer needs no edit here
(``hgclip.project.config_keys`` lists every key with its default, help and who declares it;
``docs/reference/config.md`` is rendered from them by ``python -m hgclip.cli.config_docs --write``).
Code that reads a config which may lack a key reads it with :func:`read_key`, which falls back to
the declaration.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from yacs.config import CfgNode as CN

from .common.config_io import flatten
from .common.config_schema import Key, build, prefixed
from .registry import trainer_sections
from .runtime.dassl_api import get_cfg_default

#: Keys that were removed, with what replaces them: a config that still sets one stops with one line.
REMOVED_KEYS = {
    "DATASET.VERIFY_IMAGES": ("DATASET.CHECK_IMAGES", ("VERIFY_IMAGES True is now CHECK_IMAGES decode (decode every "
                                                       "image before training); False is CHECK_IMAGES exists, the default")),
}


_DECODING_HELP = (
    "`independent` (per-level argmax, HGCLIP), `bottom_up`, `top_down`, `path`, or CHiLS's `chils`, `chils_hat`, "
    "`chils_supagg` (coarse classes through their leaves); only `top_down` and `path` guarantee valid root-to-leaf "
    "paths (see [Metrics and decoders](metrics-and-decoders.md#decoders))")

#: Every key this project adds outside ``TRAINER``, in the order :func:`extend_cfg` adds them.
SHARED_KEYS: tuple[Key, ...] = (
    Key("DATASET.SUBSAMPLE_CLASSES", "all", "`all`, `base` or `new` leaf classes (base-to-new protocol)"),
    Key("DATASET.SUBSAMPLE_RULE", "cocoop", "`cocoop`: base = first half (rounded up) of the sorted leaf labels; "
        "`stratified`: the same split within each parent"),
    Key("DATASET.HIERARCHY_FILE", "", "replace the dataset's hierarchy by this file (leaves: the classes, or ImageNet's wnids)"),
    Key("DATASET.VAL_FRACTION", 0.1, "validation fraction carved from train where a dataset has no val split"),
    Key("DATASET.HIERSHAPES.SEED", 0, "seed the embedded synthetic dataset (HierShapes) is generated from"),
    Key("DATASET.HIERIMAGEFOLDER.DIR", "", "folder of a `HierImageFolder` dataset, under `DATASET.ROOT` or absolute"),
    Key("DATASET.DISPLAY_NAME", "", "the dataset's name in `results.json` and of its `configs/templates/<name>.json`; "
        "`\"\"` = `DATASET.NAME` (two `HierConfigDataset` configs differ here)"),
    Key("DATASET.TEMPLATES_FILE", "", "the dataset's own templates JSON (`\"\"` = `configs/templates/<display "
        "name>.json`); a trainer's `TEMPLATES_FILE` still wins"),
    Key("DATASET.CHECK_IMAGES", "exists", "the one image check, at load time: `exists` (the default: one `stat` per "
        "image, no image is opened; catches missing and empty files), `header` (PIL parses each header), `decode` "
        "(PIL decodes every image before the first step; slow on large sets). The removed `DATASET.VERIFY_IMAGES` "
        "is refused with one line naming this key"),
    Key("DATASET.SKIP_UNREADABLE", False, "leave out images that fail `CHECK_IMAGES` (in every mode) and print their "
        "count, instead of stopping at the first"),
    Key("DATASET.WORDNET.DIR", "", "folder of ImageNet's `wordnet.is_a.txt` and `words.txt`; "
        "`\"\"` = `<DATASET.ROOT>/imagenet`"),
    Key("DATASET.WORDNET.LEVELS", 2, "levels of the ImageNet tree: each class and its `LEVELS`-1 nearest "
        "first-listed `is_a` ancestors"),
    Key("DATASET.BREEDS.SPLIT", "source", "BREEDS subpopulations: `source` (train and test on the source "
        "subclasses) or `target` (test on the held-out subclasses)"),
    Key("DATASET.BREEDS.SPLIT_TYPE", "good", "how subclasses are divided, as in BREEDS: `good`, `bad` or `rand` "
        "(HGCLIP uses `good`)"),
    Key("DATASET.BREEDS.INFO_DIR", "", "folder of BREEDS' `class_hierarchy.txt`, `node_names.txt` and "
        "`dataset_class_info.json`; `\"\"` = `<DATASET.ROOT>/breeds`"),
    Key("DATASET.HIERCONFIG.IMAGE_ROOT", "", "images of a dataset given by config alone (`HierConfigDataset`), "
        "under `DATASET.ROOT` or absolute"),
    Key("DATASET.HIERCONFIG.SPLIT_FILE", "", "its split source: `\"\"` = `IMAGE_ROOT/{train,val,test}/<leaf>/` class "
        "folders, else a `.csv` or `.json` list of (path, class, split)"),
    Key("DATASET.HIERCONFIG.HIERARCHY", "", "its hierarchy file: under `DATASET.ROOT`, absolute, or a file in "
        "`datasets/hierarchies/`"),
    Key("DATASET.HIERCONFIG.ALLOW_DUPLICATES", False, "an image listed in two splits (trained on and tested on) or "
        "twice in one split (counted twice) stops the run with one line naming the list file and the first such "
        "rows; `True` keeps every row as listed and prints how many repeat"),
    Key("MODEL.BACKBONE.PATH", "", "local CLIP weights file (`.pt`); `\"\"` = use `MODEL.BACKBONE.NAME`"),
    Key("MODEL.BACKBONE.DOWNLOAD_ROOT", "", "where `clip.load` looks for (and downloads) weights; "
        "`\"\"` = `~/.cache/clip`"),
    Key("TEST.DECODING", "independent", _DECODING_HELP),
    Key("TEST.TREE_CUTS.NUM", 25, "random tree cuts for the mean tree-cut accuracy (ProTeCt's 25); `0` = no MTA"),
    Key("TEST.TREE_CUTS.SEED", 0, "seed of the tree cuts, independent of `SEED`, so every run, trainer and decoder "
        "is scored on the same cuts"),
    Key("TEST.CONFUSIONS_TOP_K", 10, "most-confused (true, predicted) pairs per level in `confusions.json`; "
        "`0` = no file", if_absent=0),
    Key("TEST.PLOT_PER_LEVEL", False, "also write `per_level.png` (per-level top-1 beside HCA and full-path "
        "accuracy) beside `results.json`"),
    Key("TEST.SAVE_PREDICTIONS", False, "also write `predictions.jsonl`: per test sample, its image path, true and "
        "predicted path (under `TEST.DECODING`) and each level's top-5 classes with scores "
        "([Output files](outputs.md))"),
    Key("TEST.HTML_REPORT", True, "write `report.html` beside `results.json`: one self-contained page with the "
        "per-level table, the tree coloured by accuracy, the most confused pairs with their lowest common ancestor "
        "and, with `TEST.SAVE_PREDICTIONS`, example images ([The HTML report](../guide/report.md))", if_absent=False),
    Key("LOSS.PROTECT.NODE_WEIGHT", 0.0, "weight of ProTeCt's (CVPR 2024) node-centric loss (a softmax over each "
        "internal node's children, for every node on the true path; ProTeCt uses `0.5`); `0` = off. Works with "
        "every trainer ([Losses](../guide/losses.md))"),
    Key("LOSS.PROTECT.TREECUT_WEIGHT", 0.0, "weight of ProTeCt's dynamic tree-cut loss (a softmax over a random tree "
        "cut drawn per step, targets mapped to their cut node; ProTeCt uses `1.0`); `0` = off"),
    Key("LOSS.PROTECT.LEVEL_CE", True, "keep the per-level cross-entropy beside the ProTeCt losses; `False` = "
        "ProTeCt's exact objective, the tree-cut loss replacing the CE (every level weight 0; all-zero "
        "`LEVEL_WEIGHTS` are allowed too while a ProTeCt loss is on)", if_absent=True),
    Key("LOSS.PROTECT.DROP_RATE", 0.1, "the cut sampler's probability that an internal node is kept whole rather "
        "than expanded (ProTeCt's `dropout_rate`, and its value): `0` = every cut is the leaves, `1` = the coarsest "
        "level"),
    Key("LOSS.PROTECT.CUT_SCORES", "node", "a cut node's score: `node` (its own logit, from its own prompt, as "
        "ProTeCt's code) or `leaf_sum` (log-sum-exp of its leaves' logits: the finest level's softmax summed under "
        "each cut node)"),
    Key("OVERWRITE_OUTPUT_DIR", False, "start `OUTPUT_DIR` afresh even if it was run with another config or on "
        "other inputs (`train.py --overwrite` sets it): a training deletes its checkpoints, results and tensorboard "
        "logs, an evaluation its evaluation outputs. An evaluation into a training's directory still uses the "
        "training's model, settings and inputs. Never compared or needed on a re-run "
        "([Running](../guide/running.md#runs-know-what-they-are))"),
    Key("TRAIN.CHECKPOINT_FREQ_ITERS", 0, "`> 0`: also write a resume point every this many iterations "
        "(the epoch checkpoint's name with `-iter<I>`, see [Output files](outputs.md)); a resume point is always "
        "written at every epoch end"),
)

#: Dassl's own keys that this project reads (the ``Hierarchical`` evaluator honours them for every level), with
#: what they do here; their defaults are Dassl's.
DASSL_KEYS_READ: dict[str, str] = {
    "TEST.PER_CLASS_RESULT": "print a per-class accuracy table per level (after the `* <key>:` lines) and add "
                             "`per_class_accuracy` to `results.json`",
    "TEST.COMPUTE_CMAT": "write `cmat.json`: per level, the class names and the confusion matrix of counts (row = "
                         "true class, column = predicted class); Dassl's flat evaluator writes a row-normalised "
                         "`cmat.pt` instead",
}

# ---------------------------------------------------------------------- keys every trainer section may share
#: ``TRAINER.<NAME>.PREC``
PREC = Key("PREC", "fp16", "`fp32`, `fp16` (CLIP weights in half, CUDA), `bf16` (bfloat16 autocast, CPU or CUDA) or "
           "`amp` (float16 autocast + grad scaler, CUDA); fp16/amp without CUDA run in fp32, with one warning; "
           "prototypes and frozen text features are computed outside autocast (`backbones/precision.py`)")
#: ``TRAINER.<NAME>.NAME_STYLE``
NAME_STYLE = Key("NAME_STYLE", "official", "class names in the trainer's prompts: `official` (the name as the data "
                 "spells it, only `_` replaced by a space, as the official code of CoOp, CoCoOp, MaPLe, KgCoOp, "
                 "PromptSRC, zero-shot CLIP and HGCLIP: `707-320`) or `normalized` (`_` and `-` become spaces, "
                 "whitespace collapsed: `707 320`). Only the prompt text changes; nodes are identified by the "
                 "normalised name either way. `TRAINER.HGCLIP.MODE official` pins `official` "
                 "([Trainers](../guide/trainers.md#class-names-in-prompts))")
#: ``TRAINER.<NAME>.LEVEL_WEIGHTS``; a trainer section without it trains with this default
LEVEL_WEIGHTS = Key("LEVEL_WEIGHTS", [], "per-level loss weights; `[]` = (CE₁ + … + 2·CE_L)/L: the finest level "
                    "counts twice, the weighted sum is divided by the number of levels")
#: The keys above: ``docs/reference/config.md`` lists them once for every trainer that declares them.
COMMON_TRAINER_KEYS: tuple[Key, ...] = (PREC, NAME_STYLE, LEVEL_WEIGHTS)


def deep_prompt_keys(n_ctx_text: int, n_ctx_vision: int, depth_text: int, depth_vision: int,
                     ctx_init: str) -> tuple[Key, ...]:
    """Keys shared by the deep-prompt trainers' sections (IVLP style: IVLP, HGCLIP, PromptSRC), with their defaults."""
    return (
        Key("N_CTX_TEXT", n_ctx_text, "learned text prompt tokens per prompted layer"),
        Key("N_CTX_VISION", n_ctx_vision, "learned vision prompt tokens per prompted layer"),
        Key("PROMPT_DEPTH_TEXT", depth_text, "prompted layers of the text encoder (input level + deep ones)"),
        Key("PROMPT_DEPTH_VISION", depth_vision, "prompted layers of the image encoder (input level + deep ones)"),
        Key("CTX_INIT", ctx_init, "initial words of the text prompt: its first `N_CTX_TEXT` tokens are learned, the "
            "rest stay fixed before the class name (`\"\"` = random context)"),
        PREC,
        NAME_STYLE,
        LEVEL_WEIGHTS,
    )


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
    """The keys every trainer shares (datasets, model, test, loss, train): :data:`SHARED_KEYS`."""
    build(SHARED_KEYS, cfg)


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
    return str(read_key(cfg, "DATASET.DISPLAY_NAME") or cfg.DATASET.NAME)


# ---------------------------------------------------------------------- reading the declarations
_SHARED_BY_NAME = {key.name: key for key in SHARED_KEYS}


def declared_keys() -> tuple[Key, ...]:
    """Every declared key under its full dotted name: :data:`SHARED_KEYS`, then each registered trainer's section."""
    trainer_keys = (key for section in trainer_sections() for key in prefixed(f"TRAINER.{section.key}", section.keys))
    return SHARED_KEYS + tuple(trainer_keys)


def declared(dotted: str) -> Key:
    """The declaration of the key ``dotted`` (``TEST.TREE_CUTS.NUM``), with its full dotted name."""
    key = _SHARED_BY_NAME.get(dotted)
    if key is None and dotted.startswith("TRAINER."):
        key = next((key for key in declared_keys() if key.name == dotted), None)
    if key is None:
        raise KeyError(f"{dotted} is not a config key this project declares")
    return key


@lru_cache(maxsize=1)
def _dassl_defaults() -> dict[str, Any]:
    return flatten(get_cfg_default())


def read_key(cfg: Any, dotted: str) -> Any:
    """``cfg``'s value of the key ``dotted``; where ``cfg`` lacks it, the value its declaration gives a missing key.

    A config built by :func:`extend_cfg` has every key; one built without it (a bare Dassl
    config, a test's hand-made node) gets the declaration's :meth:`~Key.value_if_absent`, or
    Dassl's default for one of :data:`DASSL_KEYS_READ`, so no default is repeated where a key is read.
    """
    node = cfg
    for part in dotted.split("."):
        if node is None or not hasattr(node, part):
            if dotted in DASSL_KEYS_READ:
                return copy.deepcopy(_dassl_defaults()[dotted])
            return declared(dotted).value_if_absent()
        node = getattr(node, part)
    return node


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
