"""Reading and writing split lists: the one format every dataset here is reduced to.

A split is a list of rows ``[relpath, label, classname]`` (the format of CoOp's
``split_zhou_*.json`` files), with ``relpath`` relative to the dataset's image
directory. Keeping paths relative is what lets a user move ``DATASET.ROOT``
without invalidating split or few-shot cache files.

Rows are matched to the hierarchy by *class name*, not by the stored integer: a
split file written for one label order stays valid for a hierarchy that orders
its leaves differently. The integer is still checked for consistency (one label
must always carry the same class name) so that a corrupt file is caught early.
"""
from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from typing import Iterable, Sequence

from ..common.fileio import atomic_write_json
from ..hierarchy import Hierarchy, normalize_classname
from ..runtime.dassl_api import Datum

SPLIT_NAMES = ("train", "val", "test")
Row = list  # [relpath: str, label: int, classname: str]


def rows_to_data(
    rows: Sequence[Sequence], image_dir: str, hierarchy: Hierarchy, where: str, image_check=None
) -> list[Datum]:
    """Turn ``[relpath, label, classname]`` rows into Datum objects labelled by leaf index.

    Args:
        rows: the rows, as read from a split or cache file.
        image_dir: directory the relative paths are resolved against.
        hierarchy: the label of a Datum is the index of its class among ``hierarchy.leaf_names``.
        where: names the source in error messages (e.g. ``"/data/x/split.json:train"``).
        image_check: a :class:`hgclip.datasets.image_check.ImageCheck` deciding about each image (it raises,
            or skips the image with ``DATASET.SKIP_UNREADABLE``); None = the image must exist.

    Raises:
        ValueError: a malformed row, a class that is not a leaf, or one label used for two classes.
        FileNotFoundError: an image listed in the rows does not exist (without ``image_check``).
    """
    leaf_index = {name: index for index, name in enumerate(hierarchy.leaf_names)}
    label_names: dict[int, str] = {}
    data = []
    for position, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or len(row) != 3:
            raise ValueError(f"{where}[{position}]: expected a row [relpath, label, classname], got {row!r}")
        relpath, label, classname = row
        name = normalize_classname(str(classname))
        if name not in leaf_index:
            raise ValueError(f"{where}[{position}]: class {classname!r} is not a leaf of the hierarchy")
        known = label_names.setdefault(int(label), name)
        if known != name:
            raise ValueError(f"{where}[{position}]: label {label} is used for both {known!r} and {name!r}")
        impath = os.path.join(image_dir, str(relpath))
        if image_check is not None:
            if not image_check.usable(impath, f"{where}[{position}]"):
                continue
        elif not os.path.isfile(impath):
            raise FileNotFoundError(f"{where}[{position}]: image not found: {impath}")
        data.append(Datum(impath=impath, label=leaf_index[name], domain=0, classname=hierarchy.leaf_names[leaf_index[name]]))
    return data


def data_to_rows(data: Iterable[Datum], image_dir: str) -> list[Row]:
    """The inverse of :func:`rows_to_data`: image paths become relative to ``image_dir``."""
    return [[os.path.relpath(item.impath, image_dir), int(item.label), item.classname] for item in data]


def read_split_rows(path: str) -> dict[str, list]:
    """The raw ``[relpath, label, classname]`` rows of a split JSON, per split name.

    A missing ``val`` or ``test`` key is read as an empty split; ``train`` is required. Rows are
    checked for shape here, so that later errors can name the split and row.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"split file not found: {path}")
    with open(path, "r", encoding="utf-8") as handle:
        try:
            content = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(content, dict) or "train" not in content:
        raise ValueError(f"{path}: expected a JSON object with the keys 'train', 'val', 'test'")
    unknown = sorted(set(content) - set(SPLIT_NAMES))
    if unknown:
        raise ValueError(f"{path}: unknown split names {unknown}; expected {list(SPLIT_NAMES)}")
    rows = {split: content.get(split, []) for split in SPLIT_NAMES}
    for split, items in rows.items():
        if not isinstance(items, list):
            raise ValueError(f"{path}:{split}: expected a list of [relpath, label, classname] rows")
        for position, row in enumerate(items):
            if not isinstance(row, (list, tuple)) or len(row) != 3:
                raise ValueError(f"{path}:{split}[{position}]: expected a row [relpath, label, classname], got {row!r}")
    return rows


def class_order(rows: dict[str, list], where: str) -> list[str]:
    """The class names of split rows in the order of their integer labels (normalised names).

    This is the label order of the tool that wrote the file (CoOp's, for its ``split_zhou_*.json``),
    which base/new splits follow. One label must always carry one name and vice versa.
    """
    name_of: dict[int, str] = {}
    label_of: dict[str, int] = {}
    for split, items in rows.items():
        for position, (_, label, classname) in enumerate(items):
            name = normalize_classname(str(classname))
            try:
                label = int(label)
            except (TypeError, ValueError):
                raise ValueError(f"{where}:{split}[{position}]: label {label!r} is not an integer") from None
            if name_of.setdefault(label, name) != name:
                raise ValueError(f"{where}:{split}[{position}]: label {label} is used for both {name_of[label]!r} and {name!r}")
            if label_of.setdefault(name, label) != label:
                raise ValueError(f"{where}:{split}[{position}]: class {name!r} has the labels {label_of[name]} and {label}")
    return [name_of[label] for label in sorted(name_of)]


def read_split_json(path: str, image_dir: str, hierarchy: Hierarchy, image_check=None) -> dict[str, list[Datum]]:
    """Read a ``{"train"|"val"|"test": [[relpath, label, classname], ...]}`` file into Datum lists.

    A missing ``val`` or ``test`` key is read as an empty split; ``train`` is required.
    """
    rows = read_split_rows(path)
    return {
        split: rows_to_data(rows[split], image_dir, hierarchy, where=f"{path}:{split}", image_check=image_check)
        for split in SPLIT_NAMES
    }


def write_split_json(path: str, splits: dict[str, list[Datum]], image_dir: str) -> None:
    """Write splits in the format of :func:`read_split_json`, atomically."""
    atomic_write_json(path, {split: data_to_rows(splits.get(split, []), image_dir) for split in SPLIT_NAMES}, indent=None)


def carve_val(data: Sequence[Datum], fraction: float, seed: int = 0) -> tuple[list[Datum], list[Datum]]:
    """Split ``data`` into (train, val) with ``fraction`` of every class in val.

    The split is a fixed property of the dataset, not of the run: it uses its own
    ``random.Random(seed)`` (the global RNG and ``cfg.SEED`` are not touched) and
    sorts each class by path first, so it depends only on the file list. Every
    class with at least two items keeps at least one item on each side.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"DATASET.VAL_FRACTION must be in [0, 1), got {fraction}")
    by_label: dict[int, list[Datum]] = defaultdict(list)
    for item in data:
        by_label[item.label].append(item)
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(by_label):
        items = sorted(by_label[label], key=lambda item: item.impath)
        rng.shuffle(items)
        count = 0
        if fraction > 0 and len(items) > 1:
            count = min(len(items) - 1, max(1, round(fraction * len(items))))
        val.extend(items[:count])
        train.extend(items[count:])
    train.sort(key=lambda item: (item.label, item.impath))
    val.sort(key=lambda item: (item.label, item.impath))
    return train, val
