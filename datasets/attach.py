"""The hierarchy of any Dassl dataset: this project's carry their own; others get one attached by class name.

A CoOp/MaPLe/PromptSRC checkout's datasets (``OxfordPets``, ``FGVCAircraft``, ``ImageNet``, ...) are
flat Dassl datasets: labels ``0..n-1`` and ``lab2cname``. HGCLIP and the hierarchical baselines run
on them with a tree whose leaves are those classes, matched by name in label order
(:func:`hgclip.datasets.leaf_match.match_leaves`), so base/new subsets of the checkout's datasets
work too. The tree is, in this order:

1. ``DATASET.HIERARCHY_FILE`` (a path, or a file name in ``datasets/hierarchies/``): its leaves are the
   checkout's class names, or, where they are not, the ids this project's dataset of that name gives
   its classes (ImageNet's wnids, so Making Better Mistakes' ``mbm_imagenet.txt`` fits a checkout's
   ImageNet), matched by :func:`hgclip.datasets.id_match.match_ids` as on this project's own reader;
2. the tree of this project's dataset registered as ``Hier<DATASET.NAME>`` (or ``DATASET.NAME``),
   through its :meth:`~hgclip.datasets.base.HierarchicalDataset.hierarchy_for_classes`: the same
   tree, leaf aliases and shared-name rule as that dataset's own reader (a shipped file for CoOp's
   split datasets; the annotation files under ``DATASET.ROOT`` for FGVC-Aircraft; ImageNet's WordNet
   files and the dataset folder's ``classnames.txt`` for ImageNet and its variants);
3. none: one flat level named ``class``, with a one-line warning, so every trainer still runs.
"""
from __future__ import annotations

import sys
from collections import Counter
from typing import Any, Optional

from ..hierarchy import Hierarchy, load_hierarchy, normalize_classname
from .base import resolve_hierarchy_file
from .id_match import match_ids
from .leaf_match import match_leaves

FLAT_LEVEL = "class"


def project_dataset_for(dataset_name: str) -> Optional[type]:
    """This project's dataset class for a ``DATASET.NAME`` (e.g. a checkout's ``OxfordPets``), if any."""
    from ..runtime.dassl_api import DATASET_REGISTRY

    for name in (f"Hier{dataset_name}", dataset_name):
        if name in DATASET_REGISTRY.registered_names():
            cls = DATASET_REGISTRY.get(name)
            if callable(getattr(cls, "hierarchy_for_classes", None)):
                return cls
    return None


def class_names_of(dataset: Any) -> list[str]:
    """The dataset's class names in label order (Dassl's ``lab2cname``)."""
    lab2cname = dataset.lab2cname
    return [lab2cname[label] for label in range(len(lab2cname))]


def flat_hierarchy(names: list[str]) -> Hierarchy:
    """One level of ``names``; a name that several classes share is told apart by the label (prompts keep the name)."""
    keys = [normalize_classname(name) for name in names]
    shared = {key for key, count in Counter(keys).items() if count > 1}
    leaves = [f"{name} (label {label})" if key in shared else name for label, (name, key) in enumerate(zip(names, keys))]
    return Hierarchy((FLAT_LEVEL,), [(leaf,) for leaf in leaves],
                     {leaf: name for leaf, name, key in zip(leaves, names, keys) if key in shared})


def file_hierarchy(tree: Hierarchy, path: str, names: list[str], cfg: Any) -> Hierarchy:
    """The tree of the hierarchy file ``path`` (loaded as ``tree``) over the checkout's classes ``names``.

    By name first, so a file of the checkout's class names needs nothing else; only when that fails are
    the ids of this project's dataset of ``DATASET.NAME`` read (for ImageNet its ``classnames.txt`` and
    WordNet files), so a name-keyed file never depends on them.
    """
    name = cfg.DATASET.NAME
    try:
        return match_leaves(tree, names, f"{path} vs {name}")
    except ValueError as by_name:
        project = project_dataset_for(name)
        if project is None:
            raise by_name
        try:
            ids = project.ids_for_classes(names, cfg, f"the classes of {name}")
        except OSError as problem:  # the files that give the ids are missing: say so too
            raise ValueError(f"{by_name}; nor could they be matched by id: {problem}") from None
        except ValueError:  # the names are not this project's classes either: the name error says it
            raise by_name from None
        by_id = match_ids(tree, ids, path) if ids is not None else None
        if by_id is None:
            raise by_name
        return by_id


def dataset_hierarchy(dataset: Any, cfg: Any) -> Hierarchy:
    """The hierarchy whose leaves are ``dataset``'s classes in label order (see the module docstring)."""
    own = getattr(dataset, "hierarchy", None)
    if isinstance(own, Hierarchy):
        return own
    names = class_names_of(dataset)
    name = cfg.DATASET.NAME
    if cfg.DATASET.HIERARCHY_FILE:
        path = resolve_hierarchy_file(cfg.DATASET.HIERARCHY_FILE)
        hierarchy = file_hierarchy(load_hierarchy(path), path, names, cfg)
        print(f"{name}: hierarchy from {path} ({hierarchy})")
        return hierarchy
    project = project_dataset_for(name)
    hierarchy = project.hierarchy_for_classes(names, cfg, f"the classes of {name}") if project else None
    if hierarchy is None:
        print(f"warning: {name}: this project has no hierarchy for it, so it runs with one flat level of "
              f"{len(names)} classes; set DATASET.HIERARCHY_FILE to a hierarchy file whose leaves are its classes",
              file=sys.stderr, flush=True)
        return flat_hierarchy(names)
    print(f"{name}: hierarchy of this project's {project.__module__}.{project.__name__} ({hierarchy})")
    return hierarchy
