"""Hand-crafted prompt templates for zero-shot CLIP, kept as data files.

A templates file is JSON::

    {"templates": ["a photo of a {}."],                  # used for every level
     "levels": {"family": ["a photo of a {} shape."]}}   # optional per-level lists

Files live in ``configs/templates/<DATASET.NAME>.json``; ``default.json`` is
used for datasets without one.
"""
from __future__ import annotations

import json
import os.path as osp

from hgclip.hierarchy import Hierarchy
from hgclip.paths import config_dir

TEMPLATES_DIR = osp.join(config_dir(), "templates")


def templates_path(dataset_name: str, override: str = "", key: str = "TEMPLATES_FILE") -> str:
    """The templates file for a dataset: ``override`` (the config ``key``), else the dataset's own, else the default."""
    if override:
        if not osp.isfile(override):
            raise FileNotFoundError(f"templates file not found: {override} ({key})")
        return override
    own = osp.join(TEMPLATES_DIR, f"{dataset_name}.json")
    return own if osp.isfile(own) else osp.join(TEMPLATES_DIR, "default.json")


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
