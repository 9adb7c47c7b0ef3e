"""HierImageFolder: your own images plus a hierarchy file, and the template for adding a dataset.

Layout (``<dir>`` = ``DATASET.HIERIMAGEFOLDER.DIR``, relative to ``DATASET.ROOT`` or absolute)::

    <dir>/hierarchy.txt                     levels header + one root-to-leaf path per line
    <dir>/images/train/<leaf name>/*.jpg    one folder per leaf class (jpg, jpeg, png, bmp, webp)
    <dir>/images/val/<leaf name>/...        optional; else DATASET.VAL_FRACTION of train is held out
    <dir>/images/test/<leaf name>/...

Folder names are matched to the leaves of ``hierarchy.txt`` through
``normalize_classname`` (so ``aquarium_fish/`` matches the leaf ``aquarium fish``).
A folder that is not a leaf, or a leaf without a training folder, is an error.
Labels follow the line order of ``hierarchy.txt``.

Adding a dataset
----------------
Without code: a dataset config for ``HierConfigDataset`` names the images, the split source
(class folders or a CSV/JSON list) and the hierarchy file (``datasets/config_dataset.py``).

In code, every dataset is a class registered in Dassl's ``DATASET_REGISTRY`` and selected by
``DATASET.NAME``. Two ways to add one:

1. Your data fits the layout above: subclass and name the folder, e.g. in
   ``datasets/my_birds.py``::

       from ..runtime.dassl_api import DATASET_REGISTRY
       from .image_folder import HierImageFolder

       @DATASET_REGISTRY.register()
       class MyBirds(HierImageFolder):
           folder = "my_birds"          # <DATASET.ROOT>/my_birds/{hierarchy.txt,images/}

2. Another on-disk format: subclass :class:`hgclip.datasets.base.HierarchicalDataset` and
   implement ``load_source(cfg)``, returning a :class:`hgclip.datasets.base.DatasetSource`
   (dataset dir, image dir, full ``Hierarchy``, and train/val/test Datum lists
   labelled by leaf index). See ``datasets/fgvc_aircraft.py`` for a full example.

Then import the module in ``datasets/__init__.py`` and add
``configs/datasets/my_birds.yaml`` with ``DATASET: {NAME: "MyBirds"}``. Few-shot
sampling, base/new splits, ``DATASET.HIERARCHY_FILE`` and relabelling come from the
base class.
"""
from __future__ import annotations

import os

from ..hierarchy import Hierarchy, load_hierarchy, normalize_classname
from ..registry import register_dataset
from ..runtime.dassl_api import Datum
from .base import DatasetSource, HierarchicalDataset
from .split_io import carve_val

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VAL_SPLIT_SEED = 0


def _visible(names: list[str]) -> list[str]:
    return sorted(name for name in names if not name.startswith("."))


def read_split_folder(split_dir: str, hierarchy: Hierarchy, hierarchy_path: str) -> list[Datum]:
    """Datum per image under ``split_dir/<leaf folder>/``, labelled by leaf index.

    Raises:
        ValueError: a folder name that is not a leaf, or two folders for one leaf.
    """
    leaf_index = {name: index for index, name in enumerate(hierarchy.leaf_names)}
    folder_of: dict[int, str] = {}
    data = []
    for folder in _visible(os.listdir(split_dir)):
        folder_path = os.path.join(split_dir, folder)
        if not os.path.isdir(folder_path):
            continue
        name = normalize_classname(folder)
        if name not in leaf_index:
            raise ValueError(f"{folder_path}: folder {folder!r} is not a leaf of {hierarchy_path}")
        label = leaf_index[name]
        if label in folder_of:
            raise ValueError(f"{folder_path}: folders {folder_of[label]!r} and {folder!r} both match the leaf {name!r}")
        folder_of[label] = folder
        for filename in _visible(os.listdir(folder_path)):
            if filename.lower().endswith(IMAGE_EXTENSIONS):
                impath = os.path.join(folder_path, filename)
                data.append(Datum(impath=impath, label=label, classname=hierarchy.leaf_names[label]))
    data.sort(key=lambda item: (item.label, item.impath))
    return data


@register_dataset
class HierImageFolder(HierarchicalDataset):
    """A user dataset: ``hierarchy.txt`` + ``images/<split>/<leaf>/`` (see the module docstring)."""

    #: folder under DATASET.ROOT (or absolute); "" means read DATASET.HIERIMAGEFOLDER.DIR
    folder: str = ""

    def dataset_folder(self, cfg) -> str:
        folder = self.folder or cfg.DATASET.HIERIMAGEFOLDER.DIR
        if not folder:
            raise ValueError(
                f"{type(self).__name__}: set DATASET.HIERIMAGEFOLDER.DIR to the folder holding hierarchy.txt and images/"
            )
        return os.path.join(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)), os.path.expanduser(folder))

    def load_source(self, cfg) -> DatasetSource:
        dataset_dir = self.dataset_folder(cfg)
        hierarchy_path = os.path.join(dataset_dir, "hierarchy.txt")
        hierarchy = load_hierarchy(hierarchy_path)
        image_dir = os.path.join(dataset_dir, "images")
        for split in ("train", "test"):
            if not os.path.isdir(os.path.join(image_dir, split)):
                raise FileNotFoundError(f"{type(self).__name__}: missing {os.path.join(image_dir, split)}/<leaf name>/")

        train = read_split_folder(os.path.join(image_dir, "train"), hierarchy, hierarchy_path)
        trained = {item.label for item in train}
        without_train = [name for label, name in enumerate(hierarchy.leaf_names) if label not in trained]
        if without_train:
            raise ValueError(
                f"{os.path.join(image_dir, 'train')}: no images for the leaves {without_train[:5]} of {hierarchy_path}"
            )
        test = read_split_folder(os.path.join(image_dir, "test"), hierarchy, hierarchy_path)
        val_dir = os.path.join(image_dir, "val")
        if os.path.isdir(val_dir):
            val = read_split_folder(val_dir, hierarchy, hierarchy_path)
        else:
            train, val = carve_val(train, float(cfg.DATASET.VAL_FRACTION), seed=VAL_SPLIT_SEED)
        return DatasetSource(dataset_dir, image_dir, hierarchy, train, val, test)
