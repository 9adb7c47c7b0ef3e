"""The hierarchy of any Dassl dataset: this project's carry their own; others get one attached by class name.

A CoOp/MaPLe/PromptSRC checkout's datasets (``OxfordPets``, ``FGVCAircraft``, ...) are flat
Dassl datasets: labels ``0..n-1`` and ``lab2cname``. HGCLIP and the hierarchical baselines
run on them with a hierarchy file whose leaves are those classes, matched by name
(:func:`hgclip.hierarchy.normalize_classname`, case-insensitive), in label order, so
base/new subsets of the checkout's datasets work too. The file is, in this order:

1. ``DATASET.HIERARCHY_FILE`` (a path, or a file name in ``datasets/hierarchies/``);
2. the hierarchy this project ships for ``DATASET.NAME`` (the ``hierarchy_file`` of
   the project's dataset registered as ``Hier<DATASET.NAME>``);
3. none: one flat level named ``class`` (said in one line), so every trainer still runs.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from ..hierarchy import Hierarchy, load_hierarchy, normalize_classname
from .base import HIERARCHIES_DIR, resolve_hierarchy_file

FLAT_LEVEL = "class"
PREVIEW = 10


def _key(name: str) -> str:
    return normalize_classname(name).casefold()


def _preview(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:PREVIEW])
    return shown + (f" (+{len(names) - PREVIEW} more)" if len(names) > PREVIEW else "")


def match_classes(hierarchy: Hierarchy, class_names: Sequence[str], where: str) -> Hierarchy:
    """``hierarchy`` restricted to ``class_names`` (matched to its leaves by name), leaves in that order.

    Raises:
        ValueError: a class that is not a leaf (up to 10 of them are named, with as many
            leaves that matched no class), or two classes that match one leaf.
    """
    leaf_of = {_key(raw[-1]): raw for raw in hierarchy.raw_paths}
    missing = [name for name in class_names if _key(name) not in leaf_of]
    if missing:
        wanted = {_key(name) for name in class_names}
        unused = [raw[-1] for raw in hierarchy.raw_paths if _key(raw[-1]) not in wanted]
        raise ValueError(f"{where}: {len(missing)} of the dataset's {len(class_names)} classes are not leaves: "
                         f"{_preview(missing)}; leaves that match no class: {_preview(unused) or 'none'}")
    keys = [_key(name) for name in class_names]
    if len(set(keys)) != len(keys):
        twice = sorted({name for name, key in zip(class_names, keys) if keys.count(key) > 1})
        raise ValueError(f"{where}: several classes match the same leaf: {_preview(twice)}")
    return Hierarchy(hierarchy.level_names, [leaf_of[key] for key in keys])


def shipped_hierarchy_for(dataset_name: str) -> Optional[str]:
    """The hierarchy file this project ships for a dataset name (e.g. a checkout's ``OxfordPets``), if any."""
    from ..runtime.dassl_api import DATASET_REGISTRY

    for name in (f"Hier{dataset_name}", dataset_name):
        if name in DATASET_REGISTRY.registered_names():
            filename = getattr(DATASET_REGISTRY.get(name), "hierarchy_file", "")
            if filename:
                return os.path.join(HIERARCHIES_DIR, filename)
    return None


def class_names_of(dataset: Any) -> list[str]:
    """The dataset's class names in label order (Dassl's ``lab2cname``)."""
    lab2cname = dataset.lab2cname
    return [lab2cname[label] for label in range(len(lab2cname))]


def dataset_hierarchy(dataset: Any, cfg: Any) -> Hierarchy:
    """The hierarchy whose leaves are ``dataset``'s classes in label order (see the module docstring)."""
    own = getattr(dataset, "hierarchy", None)
    if isinstance(own, Hierarchy):
        return own
    names = class_names_of(dataset)
    path = resolve_hierarchy_file(cfg.DATASET.HIERARCHY_FILE) if cfg.DATASET.HIERARCHY_FILE else \
        shipped_hierarchy_for(cfg.DATASET.NAME)
    if path is None:
        print(f"{cfg.DATASET.NAME} has no hierarchy (set DATASET.HIERARCHY_FILE): one flat level of "
              f"{len(names)} classes")
        return Hierarchy((FLAT_LEVEL,), [(name,) for name in names])
    hierarchy = match_classes(load_hierarchy(path), names, f"{path} vs {cfg.DATASET.NAME}")
    print(f"{cfg.DATASET.NAME}: hierarchy from {path} ({hierarchy})")
    return hierarchy
