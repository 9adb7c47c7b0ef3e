"""CIFAR-100 with its official 20 superclasses, read from the official python archive.

Expected layout (the archive ``cifar-100-python.tar.gz`` unpacked in ``DATASET.ROOT``)::

    <ROOT>/cifar-100-python/{train,test,meta}

The hierarchy is derived from the ``coarse_labels`` stored next to the
``fine_labels`` in the data itself, never from a hand-made table (those are known
to contain mistakes), and written to ``cifar-100-python/hierarchy.txt`` for
inspection. Dassl's Datum needs image files, so the arrays are extracted once to
``cifar-100-python/images/{train,test}/<fine name>/<index>.png``; the extraction is
built in a temporary directory and renamed into place with a completion marker, so
an interrupted extraction is redone rather than used.

Splits: the official 10k test set; a validation set of ``DATASET.VAL_FRACTION`` of
each class is carved from the official train set with a fixed seed (independent of
``cfg.SEED``) and cached as ``cifar-100-python/split_val<fraction>.json``.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
from PIL import Image

from ..common.fileio import temporary_directory
from ..hierarchy import Hierarchy
from ..registry import register_dataset
from ..runtime.dassl_api import Datum
from .base import DatasetSource, HierarchicalDataset, write_text_if_changed
from .split_io import carve_val, read_split_json, write_split_json

ARCHIVE_DIR = "cifar-100-python"
LEVEL_NAMES = ("superclass", "class")
SPLIT_FILES = ("train", "test")
COMPLETE_MARKER = ".complete"
VAL_SPLIT_SEED = 0


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def load_batch(path: str) -> dict:
    """One pickle of the official archive, with byte-string keys turned into str."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"CIFAR100: {path} not found; unpack cifar-100-python.tar.gz "
            "(https://www.cs.toronto.edu/~kriz/cifar.html) into DATASET.ROOT"
        )
    with open(path, "rb") as handle:
        content = pickle.load(handle, encoding="bytes")
    return {_text(key): value for key, value in content.items()}


def _require(batch: dict, keys: tuple[str, ...], path: str) -> None:
    missing = [key for key in keys if key not in batch]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}; is this the python version of CIFAR-100?")


def derive_hierarchy(meta: dict, batches: dict[str, dict], dataset_dir: str) -> Hierarchy:
    """Superclass > class from the per-image (fine, coarse) label pairs.

    Leaves keep the official fine label order. Raises a one-line error naming the
    file and the image index when a fine class occurs under two superclasses, or
    when a class never occurs (its superclass would be unknown).
    """
    fine_names = [_text(name) for name in meta["fine_label_names"]]
    coarse_names = [_text(name) for name in meta["coarse_label_names"]]
    coarse_of: dict[int, tuple[int, str]] = {}
    for split, batch in batches.items():
        for index, (fine, coarse) in enumerate(zip(batch["fine_labels"], batch["coarse_labels"])):
            known = coarse_of.setdefault(int(fine), (int(coarse), f"{split}[{index}]"))
            if known[0] != int(coarse):
                raise ValueError(
                    f"{os.path.join(dataset_dir, split)}: image {index} puts class {fine_names[fine]!r} under "
                    f"superclass {coarse_names[coarse]!r}, but {known[1]} put it under {coarse_names[known[0]]!r}"
                )
    missing = [name for label, name in enumerate(fine_names) if label not in coarse_of]
    if missing:
        raise ValueError(f"{os.path.join(dataset_dir, 'meta')}: classes without any image: {missing[:5]}")
    return Hierarchy(LEVEL_NAMES, [(coarse_names[coarse_of[label][0]], name) for label, name in enumerate(fine_names)])


def image_relpath(split: str, fine_name: str, index: int) -> str:
    return f"{split}/{fine_name}/{index:05d}.png"


def _marker_content(batches: dict[str, dict]) -> dict:
    return {split: len(batch["fine_labels"]) for split, batch in batches.items()}


def ensure_images(dataset_dir: str, batches: dict[str, dict], fine_names: list[str]) -> str:
    """Extract the images to PNG files once; return the image directory.

    The marker file records the number of images per split; a missing or different
    marker means the extraction was interrupted (or the data changed) and is redone.
    """
    image_dir = os.path.join(dataset_dir, "images")
    expected = _marker_content(batches)
    marker = os.path.join(image_dir, COMPLETE_MARKER)
    if os.path.isfile(marker):
        with open(marker, "r", encoding="utf-8") as handle:
            try:
                if json.load(handle) == expected:
                    return image_dir
            except json.JSONDecodeError:
                pass

    tmp_dir = temporary_directory(dataset_dir, prefix=".images-tmp-")
    try:
        for split, batch in batches.items():
            pixels = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            for index, (image, fine) in enumerate(zip(pixels, batch["fine_labels"])):
                path = os.path.join(tmp_dir, image_relpath(split, fine_names[fine], index))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                Image.fromarray(image).save(path)
        with open(os.path.join(tmp_dir, COMPLETE_MARKER), "w", encoding="utf-8") as handle:
            json.dump(expected, handle)
        if os.path.exists(image_dir):
            shutil.rmtree(image_dir)  # an incomplete earlier attempt
        try:
            os.rename(tmp_dir, image_dir)
        except OSError:
            if not os.path.isfile(marker):  # not a concurrent extraction that finished first
                raise
    finally:
        if os.path.exists(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return image_dir


# Registered as HierCIFAR100; this repository's train.py also registers it as CIFAR100, replacing
# (with a note) the flat semi-supervised CIFAR100 that the real Dassl registers itself.
@register_dataset
class CIFAR100(HierarchicalDataset):
    """CIFAR-100: 20 superclasses > 100 classes (official labels)."""

    def load_source(self, cfg) -> DatasetSource:
        dataset_dir = os.path.join(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)), ARCHIVE_DIR)
        meta = load_batch(os.path.join(dataset_dir, "meta"))
        _require(meta, ("fine_label_names", "coarse_label_names"), os.path.join(dataset_dir, "meta"))
        batches = {}
        for split in SPLIT_FILES:
            path = os.path.join(dataset_dir, split)
            batches[split] = load_batch(path)
            _require(batches[split], ("data", "fine_labels", "coarse_labels"), path)

        hierarchy = derive_hierarchy(meta, batches, dataset_dir)
        write_text_if_changed(
            os.path.join(dataset_dir, "hierarchy.txt"),
            "# Derived from the coarse_labels of the official CIFAR-100 data (datasets/cifar100.py).\n"
            + hierarchy.to_text(),
        )
        fine_names = [_text(name) for name in meta["fine_label_names"]]
        image_dir = ensure_images(dataset_dir, batches, fine_names)

        fraction = float(cfg.DATASET.VAL_FRACTION)
        split_path = os.path.join(dataset_dir, f"split_val{fraction:g}.json")
        if not os.path.isfile(split_path):
            official = {
                split: [
                    Datum(
                        impath=os.path.join(image_dir, image_relpath(split, fine_names[fine], index)),
                        label=int(fine),
                        classname=hierarchy.leaf_names[fine],
                    )
                    for index, fine in enumerate(batch["fine_labels"])
                ]
                for split, batch in batches.items()
            }
            train, val = carve_val(official["train"], fraction, seed=VAL_SPLIT_SEED)
            write_split_json(split_path, {"train": train, "val": val, "test": official["test"]}, image_dir)
        splits = read_split_json(split_path, image_dir, hierarchy)
        return DatasetSource(dataset_dir, image_dir, hierarchy, splits["train"], splits["val"], splits["test"])
