"""Datasets in CoOp's layout: an image folder plus CoOp's fixed ``split_zhou_<Name>.json``.

CoOp (and CoCoOp, MaPLe, KgCoOp, PromptSRC) evaluate on fixed splits published as
``split_zhou_<Name>.json``: ``{"train"|"val"|"test": [[relpath, label, classname], ...]}``, paths
relative to the dataset's image folder (CoOp's DATASETS.md says where each file goes). A dataset
here reads exactly those files, in exactly those folders, so an existing CoOp data root works.

The hierarchy is a file shipped in ``datasets/hierarchies/`` whose leaves are CoOp's class names
(CoOp rewrites some names when it writes a split, e.g. Caltech-101's ``airplanes`` -> ``airplane``;
each hierarchy file's header lists those rewrites). At load time:

* the split's class names must be exactly the file's leaves, minus the ``unused_leaves`` a dataset
  declares (e.g. Caltech-101's ``faces_easy``, which CoOp's split drops): one error lists up to 10
  names on each side otherwise;
* leaves are put in the order of the split's integer labels, so that base/new halves and
  relabelling are CoOp's whatever the line order of the hierarchy file;
* each leaf keeps the spelling of the split file (the class name CoOp prompts with, ``_`` aside),
  so prompts are CoOp's (``TRAINER.<NAME>.NAME_STYLE official``);
* a leaf that published copies of the data spell in more than one way declares the other spellings
  (``leaf_aliases``, e.g. Flowers' class 78, ``lotus lotus`` or ``lotus``): the split's spelling is
  accepted and becomes the leaf's name.

A missing split file is an error that gives the expected layout and the download: the split
must be CoOp's own for results to be comparable with published numbers, so none is generated.
"""
from __future__ import annotations

import os

from ..hierarchy import Hierarchy, load_hierarchy, normalize_classname
from .base import DatasetSource, HierarchicalDataset, resolve_hierarchy_file
from .checks import check_class_names, require_paths
from .split_io import SPLIT_NAMES, class_order, read_split_rows, rows_to_data

COOP_DATASETS_MD = "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"


def without_leaves(hierarchy: Hierarchy, unused: tuple[str, ...], source: str) -> Hierarchy:
    """``hierarchy`` restricted to every leaf not named in ``unused`` (names normalised)."""
    if not unused:
        return hierarchy
    drop = {normalize_classname(name) for name in unused}
    absent = sorted(drop - set(hierarchy.leaf_names))
    if absent:
        raise ValueError(f"{source}: the leaves {absent} declared unused are not in the file")
    return hierarchy.restrict([i for i, name in enumerate(hierarchy.leaf_names) if name not in drop])


def with_aliases(hierarchy: Hierarchy, aliases: dict[str, tuple[str, ...]], found: list[str], source: str) -> Hierarchy:
    """``hierarchy`` with each leaf that the data names by one of its declared ``aliases`` renamed to it.

    ``aliases``: leaf -> other spellings of the same class; ``found``: the data's class names
    (normalised). A leaf whose own name is found, or none of whose aliases is, stays as it is.
    """
    if not aliases:
        return hierarchy
    present = set(found)
    rename: dict[str, str] = {}
    for leaf, others in aliases.items():
        leaf = normalize_classname(leaf)
        if leaf not in hierarchy.leaf_names:
            raise ValueError(f"{source}: the leaf {leaf!r} given aliases is not in the file")
        if leaf in present:
            continue
        used = [normalize_classname(name) for name in others if normalize_classname(name) in present]
        if used:
            rename[leaf] = used[0]
    if not rename:
        return hierarchy
    paths = [raw[:-1] + (rename.get(path[-1], raw[-1]),) for path, raw in zip(hierarchy.paths, hierarchy.raw_paths)]
    return Hierarchy(hierarchy.level_names, paths)


def in_leaf_order(hierarchy: Hierarchy, leaf_names: list[str], spellings: dict[str, str] | None = None) -> Hierarchy:
    """The same tree with its leaves (paths) in the order of ``leaf_names`` (normalised names).

    ``spellings``: normalised name -> the data's spelling of a leaf, kept as the leaf's name as written
    (what the prompts use); a leaf without one keeps the file's.
    """
    spellings = spellings or {}
    raw_of = {path[-1]: raw for path, raw in zip(hierarchy.paths, hierarchy.raw_paths)}
    return Hierarchy(hierarchy.level_names,
                     [raw_of[name][:-1] + (spellings.get(name, raw_of[name][-1]),) for name in leaf_names])


def split_spellings(rows: dict[str, list]) -> dict[str, str]:
    """Normalised class name -> its spelling in the split rows (the first one met)."""
    spellings: dict[str, str] = {}
    for items in rows.values():
        for _, _, classname in items:
            spellings.setdefault(normalize_classname(str(classname)), str(classname).strip())
    return spellings


class CoOpSplitDataset(HierarchicalDataset):
    """Base class of the datasets read from CoOp's ``split_zhou_*.json`` (see the module docstring).

    A subclass only states where its files are and which hierarchy file it uses.
    """

    #: folder under DATASET.ROOT (CoOp's DATASETS.md name)
    folder: str = ""
    #: image folder inside it that the split's paths are relative to ("" = the folder itself)
    image_subdir: str = ""
    #: CoOp's split file inside ``folder``
    split_file: str = ""
    #: shipped hierarchy file in datasets/hierarchies/
    hierarchy_file: str = ""
    #: leaves of the hierarchy file that CoOp's split does not have
    unused_leaves: tuple[str, ...] = ()
    #: leaf of the hierarchy file -> other spellings of it in published copies of the data
    leaf_aliases: dict[str, tuple[str, ...]] = {}
    #: where the data comes from, for the missing-file error
    download: str = ""

    def layout(self) -> str:
        images = f"{self.image_subdir}/, " if self.image_subdir else ""
        return f"<DATASET.ROOT>/{self.folder}/{{{images}{self.split_file}}}"

    def load_source(self, cfg) -> DatasetSource:
        name = type(self).__name__
        dataset_dir = os.path.join(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)), self.folder)
        image_dir = os.path.join(dataset_dir, self.image_subdir) if self.image_subdir else dataset_dir
        split_path = os.path.join(dataset_dir, self.split_file)
        require_paths(name, [dataset_dir + "/", image_dir + "/", split_path], self.layout(), self.download)

        rows = read_split_rows(split_path)
        hierarchy_path = resolve_hierarchy_file(self.hierarchy_file)
        shipped = without_leaves(load_hierarchy(hierarchy_path), self.unused_leaves, hierarchy_path)
        order = class_order(rows, split_path)
        shipped = with_aliases(shipped, self.leaf_aliases, order, hierarchy_path)
        check_class_names(order, shipped, split_path, hierarchy_path)
        hierarchy = in_leaf_order(shipped, order, split_spellings(rows))

        splits = {
            split: rows_to_data(rows[split], image_dir, hierarchy, f"{split_path}:{split}", self.image_check)
            for split in SPLIT_NAMES
        }
        return DatasetSource(dataset_dir, image_dir, hierarchy, splits["train"], splits["val"], splits["test"],
                             images_checked=True)
