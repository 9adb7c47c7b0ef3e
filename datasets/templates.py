"""Hand-crafted prompt templates for zero-shot CLIP, kept as data files.

A templates file is JSON::

    {"templates": ["a photo of a {}."],                  # used for every level
     "levels": {"family": ["a photo of a {} shape."]}}   # optional per-level lists

Files live in ``configs/templates/<DATASET.DISPLAY_NAME or DATASET.NAME>.json``
(or ``DATASET.TEMPLATES_FILE``); ``default.json`` is used for datasets without one.
"""
from __future__ import annotations

import json
import os.path as osp

from ..common.paths import config_dir
from ..config import dataset_display_name, read_key
from ..hierarchy import Hierarchy

TEMPLATES_DIR = osp.join(config_dir(), "templates")


def templates_path(dataset_name: str, override: str = "", dataset_file: str = "") -> str:
    """The templates file for a dataset: the trainer's ``override``, else the dataset config's
    ``dataset_file`` (``DATASET.TEMPLATES_FILE``), else ``configs/templates/<dataset_name>.json``,
    else ``default.json``."""
    for path, key in ((override, "the trainer's TEMPLATES_FILE"), (dataset_file, "DATASET.TEMPLATES_FILE")):
        if path:
            if not osp.isfile(path):
                raise FileNotFoundError(f"templates file not found: {path} ({key})")
            return path
    own = osp.join(TEMPLATES_DIR, f"{dataset_name}.json")
    return own if osp.isfile(own) else osp.join(TEMPLATES_DIR, "default.json")


def dataset_templates_path(cfg, override: str = "") -> str:
    """:func:`templates_path` for a config: named by ``DATASET.DISPLAY_NAME`` (else ``DATASET.NAME``)."""
    return templates_path(dataset_display_name(cfg), override, read_key(cfg, "DATASET.TEMPLATES_FILE"))


def load_level_templates(path: str, hierarchy: Hierarchy) -> list[list[str]]:
    """One list of templates per level (coarse -> fine), validated."""
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
    default = data.get("templates")
    per_level = data.get("levels", {})
    unknown = set(per_level) - set(hierarchy.level_names)
    if unknown:
        raise ValueError(f"{path}: 'levels' names unknown levels {sorted(unknown)}; expected {list(hierarchy.level_names)}")
    result = []
    for level in hierarchy.level_names:
        templates = per_level.get(level, default)
        if not templates or not all(isinstance(t, str) and "{}" in t for t in templates):
            raise ValueError(f"{path}: level {level!r} needs a non-empty list of templates containing '{{}}'")
        result.append(list(templates))
    return result
