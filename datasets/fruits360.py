"""Fruits-360 (Kaggle release): produce > kind > class, HGCLIP's 4 / 69 / 113 tree.

Expected layout (the Kaggle archive unpacked in ``DATASET.ROOT``; the first that exists is used)::

    <ROOT>/fruits-360/fruits-360_dataset/fruits-360/{Training,Test}/<folder>/*.jpg   (HGCLIP's path)
    <ROOT>/fruits-360_dataset/fruits-360/{Training,Test}/<folder>/*.jpg
    <ROOT>/fruits-360/{Training,Test}/<folder>/*.jpg

Classes: a folder's class is its name lower-cased with a trailing variant number removed
(``Apple Golden 1``, ``Apple Golden 2``, ``Apple Golden 3`` -> ``apple golden``), the rule that
turns the 131 folders of the 131-class release into HGCLIP's 113 classes; a class keeps the
images of all its variant folders. The names must be the leaves of the hierarchy (one error lists
the mismatches, e.g. the extra folders of a later release).

Splits: the official Training and Test folders; a validation set of ``DATASET.VAL_FRACTION`` of
each class is held out from Training with a fixed seed. ``DATASET.HIERARCHY_FILE
fruits360_corrected.txt`` swaps in the corrected middle level (see that file's header).
"""
from __future__ import annotations

import os
import re

from ..hierarchy import Hierarchy, load_hierarchy, normalize_classname
from ..registry import register_dataset
from ..runtime.dassl_api import Datum
from .base import DatasetSource, HierarchicalDataset, resolve_hierarchy_file
from .checks import DatasetLayoutError, check_class_names
from .image_folder import IMAGE_EXTENSIONS
from .split_io import carve_val

LAYOUTS = (
    os.path.join("fruits-360", "fruits-360_dataset", "fruits-360"),
    os.path.join("fruits-360_dataset", "fruits-360"),
    "fruits-360",
)
SPLIT_FOLDERS = {"train": "Training", "test": "Test"}
HIERARCHY_FILE = "fruits360.txt"
VAL_SPLIT_SEED = 0
DOWNLOAD = "https://www.kaggle.com/datasets/moltean/fruits (the 131-class release)"
_VARIANT = re.compile(r"\s+\d+$")


def fruit_class(folder: str) -> str:
    """The class of a Fruits-360 folder: lower-cased, trailing variant number removed."""
    return normalize_classname(_VARIANT.sub("", folder.strip()).lower())


def find_data_dir(root: str) -> str:
    candidates = [os.path.join(root, layout) for layout in LAYOUTS]
    for candidate in candidates:
        if all(os.path.isdir(os.path.join(candidate, folder)) for folder in SPLIT_FOLDERS.values()):
            return candidate
    raise DatasetLayoutError(
        f"Fruits360: no Training/ and Test/ folders in {' or '.join(candidates)}; expected "
        f"<DATASET.ROOT>/{LAYOUTS[0]}/{{Training,Test}}/<class folder>/*.jpg; download: {DOWNLOAD}"
    )


@register_dataset
class Fruits360(HierarchicalDataset):
    """Fruits-360: 4 produce types > 69 kinds > 113 classes (HGCLIP's tree, numbered variants merged)."""

    hierarchy_file = HIERARCHY_FILE

    def load_source(self, cfg) -> DatasetSource:
        data_dir = find_data_dir(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)))
        hierarchy_path = resolve_hierarchy_file(self.hierarchy_file)
        hierarchy = load_hierarchy(hierarchy_path)
        folders = {
            split: sorted(name for name in os.listdir(os.path.join(data_dir, folder))
                          if not name.startswith(".") and os.path.isdir(os.path.join(data_dir, folder, name)))
            for split, folder in SPLIT_FOLDERS.items()
        }
        train_dir = os.path.join(data_dir, SPLIT_FOLDERS["train"])
        check_class_names([fruit_class(name) for name in folders["train"]], hierarchy, train_dir, hierarchy_path)
        test_dir = os.path.join(data_dir, SPLIT_FOLDERS["test"])
        check_class_names([fruit_class(name) for name in folders["test"]], hierarchy, test_dir, hierarchy_path,
                          every_leaf=False)

        splits = {split: self._read(os.path.join(data_dir, SPLIT_FOLDERS[split]), names, hierarchy)
                  for split, names in folders.items()}
        train, val = carve_val(splits["train"], float(cfg.DATASET.VAL_FRACTION), seed=VAL_SPLIT_SEED)
        return DatasetSource(data_dir, data_dir, hierarchy, train, val, splits["test"], images_checked=True)

    def _read(self, split_dir: str, folders: list[str], hierarchy: Hierarchy) -> list[Datum]:
        leaf_index = {name: index for index, name in enumerate(hierarchy.leaf_names)}
        data = []
        for folder in folders:
            label = leaf_index[fruit_class(folder)]
            folder_dir = os.path.join(split_dir, folder)
            for filename in sorted(os.listdir(folder_dir)):
                if filename.startswith(".") or not filename.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                impath = os.path.join(folder_dir, filename)
                if self.image_check.usable(impath, folder_dir):
                    data.append(Datum(impath=impath, label=label, classname=hierarchy.leaf_names[label]))
        data.sort(key=lambda item: (item.label, item.impath))
        return data
