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

from hgclip.dassl_compat import Datum
from hgclip.hierarchy import Hierarchy, normalize_classname
from hgclip.fileio import atomic_write_json

SPLIT_NAMES = ("train", "val", "test")
Row = list  # [relpath: str, label: int, classname: str]


def rows_to_data(rows: Sequence[Sequence], image_dir: str, hierarchy: Hierarchy, where: str) -> list[Datum]:
    """Turn ``[relpath, label, classname]`` rows into Datum objects labelled by leaf index.

    Args:
        rows: the rows, as read from a split or cache file.
        image_dir: directory the relative paths are resolved against.
        hierarchy: the label of a Datum is the index of its class among ``hierarchy.leaf_names``.
        where: names the source in error messages (e.g. ``"/data/x/split.json:train"``).

    Raises:
        ValueError: a malformed row, a class that is not a leaf, or one label used for two classes.
        FileNotFoundError: an image listed in the rows does not exist.
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
        if not os.path.isfile(impath):
            raise FileNotFoundError(f"{where}[{position}]: image not found: {impath}")
        data.append(Datum(impath=impath, label=leaf_index[name], domain=0, classname=hierarchy.leaf_names[leaf_index[name]]))
    return data


def data_to_rows(data: Iterable[Datum], image_dir: str) -> list[Row]:
    """The inverse of :func:`rows_to_data`: image paths become relative to ``image_dir``."""
    return [[os.path.relpath(item.impath, image_dir), int(item.label), item.classname] for item in data]


def read_split_json(path: str, image_dir: str, hierarchy: Hierarchy) -> dict[str, list[Datum]]:
    """Read a ``{"train"|"val"|"test": [[relpath, label, classname], ...]}`` file.

    A missing ``val`` or ``test`` key is read as an empty split; ``train`` is required.
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
    return {
        split: rows_to_data(content.get(split, []), image_dir, hierarchy, where=f"{path}:{split}")
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
