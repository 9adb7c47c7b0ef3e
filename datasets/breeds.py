"""BREEDS subpopulation-shift benchmarks (Santurkar et al., ICLR 2021) on ImageNet images.

Files (the user provides both):

* the BREEDS info files in ``DATASET.BREEDS.INFO_DIR`` (default ``<ROOT>/breeds``), as published in
  MadryLab/BREEDS-Benchmarks ``imagenet_class_hierarchy/modified/``:
  ``class_hierarchy.txt`` (``<parent id> <child id>`` per line; ids are wnids or ``dummyNN``),
  ``node_names.txt`` (``<id><TAB><name>``), ``dataset_class_info.json``
  (``[[class number, wnid, name], ...]`` for the 1000 ImageNet classes);
* ImageNet in CoOp's layout, ``<ROOT>/imagenet/images/{train,val}/<wnid>/``.

Datasets (the BREEDS paper's definitions): ``Living17`` (17 superclasses at depth 5 under
"living thing", 4 subclasses each), ``Nonliving26`` (26 at depth 5 under "non-living thing", 4),
``Entity13`` (13 at depth 3, 20), ``Entity30`` (30 at depth 4, 8). Each superclass's subclasses
are divided into two disjoint halves, the *source* and the *target* subpopulations, by BREEDS'
rule ``DATASET.BREEDS.SPLIT_TYPE`` (``good``: sibling subtrees are spread over both halves, the
split HGCLIP uses; ``bad``: kept on one side; ``rand``: random with BREEDS' seed 2).
:func:`breeds_superclasses` restates the selection of MadryLab's robustness library
(``robustness.tools.breeds_helpers``): depth = longest path from the root ``n00001740``; superclasses
sorted by id; subclasses sorted; a superclass first descends while it has a single child.

Hierarchy: ``superclass > subclass``. ``DATASET.BREEDS.SPLIT source`` gives the source
subclasses (train on ImageNet train images, test on ImageNet val images, validation held out from
train); ``target`` gives the target subclasses of the same superclasses, test only (ImageNet val
images; ``test_only``: the target's images are never trained on or used for prototypes).
Names: a node's first synonym (``node_names.txt`` for superclasses, ``dataset_class_info.json``
for subclasses); two nodes of one level with the same first synonym use their full names.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Iterable, Optional

import numpy as np

from ..hierarchy import Hierarchy
from ..registry import register_dataset
from ..runtime.dassl_api import Datum
from .base import DatasetSource, HierarchicalDataset
from .checks import DatasetLayoutError, check_same_names, require_paths
from .image_folder import IMAGE_EXTENSIONS
from .imagenet import subfolders
from .split_io import carve_val
from .wordnet import distinct_names, read_edges

INFO_FILES = ("class_hierarchy.txt", "node_names.txt", "dataset_class_info.json")
ROOT_ID = "n00001740"  # WordNet "entity"
SPLITS = ("source", "target")
SPLIT_TYPES = ("good", "bad", "rand")
RANDOM_SEED = 2  # BREEDS' make_* functions
VAL_SPLIT_SEED = 0
DOWNLOAD = ("the three files of imagenet_class_hierarchy/modified/ in https://github.com/MadryLab/BREEDS-Benchmarks, "
            "and ImageNet in CoOp's layout (<ROOT>/imagenet/images/{train,val}/<wnid>/)")


class BreedsInfo:
    """The BREEDS class hierarchy over the ImageNet classes (a DAG; see the module docstring)."""

    def __init__(self, info_dir: str, root_id: str = ROOT_ID):
        paths = [os.path.join(info_dir, name) for name in INFO_FILES]
        for path in paths:
            if not os.path.isfile(path):
                raise DatasetLayoutError(
                    f"BREEDS: {path} not found; expected {', '.join(INFO_FILES)} in DATASET.BREEDS.INFO_DIR "
                    f"(default <DATASET.ROOT>/breeds); download: {DOWNLOAD}"
                )
        edges_path, names_path, info_path = paths
        with open(info_path, "r", encoding="utf-8") as handle:
            try:
                class_info = json.load(handle)
            except json.JSONDecodeError as error:
                raise ValueError(f"{info_path}:{error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(class_info, list) or not all(isinstance(r, list) and len(r) == 3 for r in class_info):
            raise ValueError(f"{info_path}: expected a list of [class number, wnid, name] rows")
        self.leaf_ids: list[str] = [str(row[1]) for row in class_info]
        self.leaf_name: dict[str, str] = {str(row[1]): str(row[2]) for row in class_info}
        self.node_name: dict[str, str] = self._read_names(names_path)
        children = self._read_edges(edges_path)
        self.children: dict[str, list[str]] = self._ancestors_graph(children, set(self.leaf_ids))
        self.depth: dict[str, int] = self._longest_depths(root_id)
        self._leaf_set = set(self.leaf_ids)

    @staticmethod
    def _read_edges(path: str) -> dict[str, list[str]]:
        children: dict[str, list[str]] = defaultdict(list)
        for parent, child in read_edges(path):
            if child not in children[parent]:
                children[parent].append(child)
        return children

    @staticmethod
    def _read_names(path: str) -> dict[str, str]:
        names = {}
        with open(path, "r", encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                node, tab, name = line.rstrip("\n").partition("\t")
                if not tab or not name.strip():
                    raise ValueError(f"{path}:{line_number}: expected '<id><TAB><name>', got {line.strip()!r}")
                names[node.strip()] = name.strip()
        return names

    @staticmethod
    def _ancestors_graph(children: dict[str, list[str]], leaves: set[str]) -> dict[str, list[str]]:
        """Only the edges on some path from a node down to a leaf (BREEDS' backward search)."""
        parents: dict[str, list[str]] = defaultdict(list)
        for parent, kids in children.items():
            for kid in kids:
                parents[kid].append(parent)
        kept: dict[str, list[str]] = defaultdict(list)
        todo, seen = [leaf for leaf in leaves if leaf in parents], set()
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            for parent in parents.get(node, ()):
                if node not in kept[parent]:
                    kept[parent].append(node)
                todo.append(parent)
        return dict(kept)

    def _longest_depths(self, root: str) -> dict[str, int]:
        """Depth of every node below ``root`` = its longest path from the root."""
        order, state = [], {}
        stack = [(root, False)]
        while stack:  # iterative post-order, then relax edges in topological order
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if state.get(node):
                continue
            state[node] = True
            stack.append((node, True))
            for child in self.children.get(node, ()):
                if not state.get(child):
                    stack.append((child, False))
        depth = {root: 0}
        for node in reversed(order):
            for child in self.children.get(node, ()):
                depth[child] = max(depth.get(child, 0), depth[node] + 1)
        return depth

    def descendants(self, node: str) -> set[str]:
        """``node`` and every node below it."""
        found, todo = set(), [node]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(self.children.get(current, ()))
        return found

    def leaves_under(self, node: str) -> list[str]:
        """The ImageNet classes reachable from ``node`` (the node itself if it is one), sorted."""
        if node in self._leaf_set:
            return [node]
        leaves, todo, seen = set(), [node], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for child in self.children.get(current, ()):
                if child in self._leaf_set:
                    leaves.add(child)
                else:
                    todo.append(child)
        return sorted(leaves)

    def name(self, node: str) -> str:
        return self.leaf_name.get(node) if node in self._leaf_set else self.node_name.get(node, node)


def split_subclasses(info: BreedsInfo, superclass: str, count: int, split_type: str, rng) -> tuple[list[str], list[str]]:
    """BREEDS' division of ``count`` subclasses of ``superclass`` into (source, target) halves."""
    node = superclass
    children = sorted(info.children.get(node, ()))
    while len(children) == 1:
        node = children[0]
        children = sorted(info.children.get(node, ()))
    groups = [(child, info.leaves_under(child)) for child in children]
    half = count // 2
    if split_type == "rand":
        pool = sorted(leaf for _, leaves in groups for leaf in leaves)
        chosen = [str(leaf) for leaf in rng.choice(pool, half * 2, replace=False)]
        source, target = chosen[:half], chosen[half:]
    else:
        source, target, spare = [], [], []
        for _, leaves in sorted(groups, key=lambda item: -len(item[1])):  # stable: ties keep id order
            if split_type == "bad":
                if len(source) <= len(target) and len(source) < half:
                    spare.extend(leaves[half - len(source):])
                    source.extend(leaves[:half - len(source)])
                elif len(target) < half:
                    spare.extend(leaves[half - len(target):])
                    target.extend(leaves[:half - len(target)])
            else:
                cut = (1 if len(source) < half else 0) if len(leaves) == 1 else min(len(leaves) // 2, half - len(source))
                taken_target = half - len(target)
                if len(source) < half:
                    source.extend(leaves[:cut])
                if taken_target > 0:
                    target.extend(leaves[cut:cut + taken_target])
        if split_type == "bad":
            source.extend(spare[:half - len(source)] if len(source) < half else [])
            target.extend(spare[:half - len(target)] if len(target) < half else [])
    if len(source) != half or len(target) != half or set(source) & set(target):
        raise ValueError(f"BREEDS: superclass {superclass} cannot be split into two disjoint halves of {half} subclasses "
                         f"with SPLIT_TYPE {split_type!r}")
    return source, target


def breeds_superclasses(
    info: BreedsInfo, level: int, subclasses: int, ancestor: Optional[str], split_type: str, seed: int = RANDOM_SEED
) -> list[tuple[str, list[str], list[str]]]:
    """``(superclass, source subclasses, target subclasses)`` of one BREEDS dataset, superclasses sorted."""
    if split_type not in SPLIT_TYPES:
        raise ValueError(f"DATASET.BREEDS.SPLIT_TYPE must be one of {', '.join(SPLIT_TYPES)}; got {split_type!r}")
    rng = np.random.RandomState(seed)
    allowed = info.descendants(ancestor) if ancestor else None
    nodes = sorted(node for node, depth in info.depth.items() if depth == level and (allowed is None or node in allowed))
    chosen = [node for node in nodes if len(info.leaves_under(node)) >= subclasses]
    if not chosen:
        raise ValueError(f"BREEDS: no node at depth {level} has {subclasses} ImageNet classes below it")
    return [(node, *split_subclasses(info, node, subclasses, split_type, rng)) for node in chosen]


def _names(nodes: Iterable[str], full_names: dict[str, str], source: str) -> dict[str, str]:
    """Distinct node names by the rule of :func:`datasets.wordnet.distinct_names` (first synonym first)."""
    nodes = list(nodes)
    synonyms = {node: [word.strip() for word in full_names.get(node, node).split(",") if word.strip()] or [node]
                for node in nodes}
    return distinct_names(nodes, synonyms, source)


class BreedsDataset(HierarchicalDataset):
    """One BREEDS benchmark (see the module docstring); a subclass gives the BREEDS parameters."""

    level: int = 0
    subclasses: int = 0
    ancestor: Optional[str] = None

    def load_source(self, cfg) -> DatasetSource:
        name = type(self).__name__
        split = str(cfg.DATASET.BREEDS.SPLIT).strip().lower()
        if split not in SPLITS:
            raise ValueError(f"DATASET.BREEDS.SPLIT must be one of {', '.join(SPLITS)}; got {cfg.DATASET.BREEDS.SPLIT!r}")
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        info_dir = os.path.expanduser(cfg.DATASET.BREEDS.INFO_DIR) or os.path.join(root, "breeds")
        info = BreedsInfo(info_dir)
        groups = breeds_superclasses(info, self.level, self.subclasses, self.ancestor,
                                     str(cfg.DATASET.BREEDS.SPLIT_TYPE).strip().lower())
        members = [(superclass, source if split == "source" else target) for superclass, source, target in groups]
        super_names = _names([superclass for superclass, _ in members], info.node_name, info_dir)
        leaf_names = _names([leaf for _, leaves in members for leaf in leaves], info.leaf_name, info_dir)
        hierarchy = Hierarchy(("superclass", "subclass"),
                              [(super_names[sc], leaf_names[leaf]) for sc, leaves in members for leaf in leaves])
        wnids = [leaf for _, leaves in members for leaf in leaves]

        image_dir = os.path.join(root, "imagenet", "images")
        splits = ("val",) if split == "target" else ("train", "val")
        layout = "<DATASET.ROOT>/imagenet/images/{train,val}/<wnid>/"
        require_paths(name, [os.path.join(image_dir, s) + "/" for s in splits], layout, DOWNLOAD)
        data = {s: self._read(os.path.join(image_dir, s), wnids, hierarchy) for s in splits}
        dataset_dir = os.path.join(info_dir, f"{name.lower()}_{split}")
        if split == "target":
            return DatasetSource(dataset_dir, image_dir, hierarchy, data["val"], [], data["val"], test_only=True,
                                 images_checked=True)
        train, val = carve_val(data["train"], float(cfg.DATASET.VAL_FRACTION), seed=VAL_SPLIT_SEED)
        return DatasetSource(dataset_dir, image_dir, hierarchy, train, val, data["val"], images_checked=True)

    def _read(self, split_dir: str, wnids: list[str], hierarchy: Hierarchy) -> list[Datum]:
        present = set(subfolders(split_dir))
        check_same_names([w for w in wnids if w in present], wnids, split_dir, f"the classes of {type(self).__name__}",
                         what="class folders")
        data = []
        for label, wnid in enumerate(wnids):
            folder = os.path.join(split_dir, wnid)
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.startswith(".") or not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                if self.image_check.usable(entry.path, folder):
                    data.append(Datum(impath=entry.path, label=label, classname=hierarchy.leaf_names[label]))
        return data


@register_dataset
class Living17(BreedsDataset):
    """BREEDS Living-17: 17 superclasses x 4 subclasses (2 source + 2 target)."""

    level, subclasses, ancestor = 5, 4, "n00004258"


@register_dataset
class Nonliving26(BreedsDataset):
    """BREEDS Nonliving-26: 26 superclasses x 4 subclasses (2 source + 2 target)."""

    level, subclasses, ancestor = 5, 4, "n00021939"


@register_dataset
class Entity13(BreedsDataset):
    """BREEDS Entity-13: 13 superclasses x 20 subclasses (10 source + 10 target)."""

    level, subclasses, ancestor = 3, 20, None


@register_dataset
class Entity30(BreedsDataset):
    """BREEDS Entity-30: 30 superclasses x 8 subclasses (4 source + 4 target)."""

    level, subclasses, ancestor = 4, 8, None
