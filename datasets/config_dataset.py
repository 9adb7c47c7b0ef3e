"""HierConfigDataset: a new dataset from a config file alone, no code.

A dataset config names the images, the split source and the hierarchy file::

    DATASET:
      NAME: "HierConfigDataset"
      DISPLAY_NAME: "MyBirds"               # results.json "dataset"; configs/templates/MyBirds.json
      TEMPLATES_FILE: ""                    # or the path of its own templates JSON
      HIERCONFIG:
        IMAGE_ROOT: "my_birds/images"       # under DATASET.ROOT, or absolute
        SPLIT_FILE: ""                      # "" = IMAGE_ROOT/{train,val,test}/<leaf>/ class folders
        HIERARCHY: "my_birds/hierarchy.txt" # under DATASET.ROOT, absolute, or a shipped file name

Split sources:

* class folders: ``IMAGE_ROOT/train/<leaf>/*.jpg``, ``IMAGE_ROOT/test/<leaf>/``, and optionally
  ``IMAGE_ROOT/val/<leaf>/``;
* a ``.csv`` list with a header row naming the columns ``path``, ``class`` and ``split``
  (others are ignored), one image per row;
* a ``.json`` list of ``{"path": ..., "class": ..., "split": ...}`` objects or of
  ``[path, class, split]`` triples, or a CoOp-style ``{"train": [[path, label, class], ...], ...}``.

Paths are relative to ``IMAGE_ROOT``; ``split`` is ``train``, ``val`` or ``test``; class names
are matched to the leaves through ``normalize_classname``. An image listed twice (a duplicate row,
or one image in two splits, e.g. train and test) is refused, naming the file and the first such rows,
unless ``DATASET.HIERCONFIG.ALLOW_DUPLICATES`` is set: then every row counts, as listed. Without validation images,
``DATASET.VAL_FRACTION`` of each class is held out from train. Labels follow the hierarchy file's
line order. Every leaf needs training images, and every class must be a leaf (one error lists up
to 10 names on each side). ``DATASET.DISPLAY_NAME`` is required: it keeps two such datasets apart
in results and selects their templates. Few-shot caches go to ``<folder of the split file, or
IMAGE_ROOT>/split_fewshot/``; their fingerprint keeps datasets that share a folder from using each
other's draws.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from typing import Sequence

from ..common.errors import InputError
from ..config import read_key
from ..hierarchy import Hierarchy, load_hierarchy, normalize_classname
from ..registry import register_dataset
from ..runtime.dassl_api import Datum
from .base import DatasetSource, HierarchicalDataset, resolve_hierarchy_file
from .checks import check_class_names, require_paths
from .image_folder import IMAGE_EXTENSIONS
from .split_io import SPLIT_NAMES, carve_val

CSV_COLUMNS = ("path", "class", "split")
REPEATS_SHOWN = 2  # repeated images named in the one-line error
VAL_SPLIT_SEED = 0
LAYOUT = ("DATASET.HIERCONFIG.IMAGE_ROOT holding {train,val,test}/<leaf>/ folders, or a CSV/JSON list of "
          "(path, class, split) in DATASET.HIERCONFIG.SPLIT_FILE, and a hierarchy file in DATASET.HIERCONFIG.HIERARCHY")


def _under_root(root: str, path: str) -> str:
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(root, path)


def read_csv_list(path: str) -> list[tuple[str, str, str, str]]:
    """``(path, class, split, where)`` per row of a CSV list (header row required)."""
    rows = []
    reader = csv.DictReader(io.StringIO(read_utf8_text(path, "a CSV list"), newline=""))
    missing = [column for column in CSV_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}:1: the header must name the columns {list(CSV_COLUMNS)}; missing {missing}")
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if any(row.get(column) is None for column in CSV_COLUMNS):
            raise ValueError(f"{where}: expected the columns {list(CSV_COLUMNS)}, got {row}")
        rows.append((row["path"].strip(), row["class"].strip(), row["split"].strip().lower(), where))
    return rows


def read_utf8_text(path: str, what: str) -> str:
    """The text of ``path`` (a UTF-8 byte-order mark, as spreadsheet programs write, is dropped)."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}); expected {what} saved as UTF-8") from None


def read_json_list(path: str) -> list[tuple[str, str, str, str]]:
    """``(path, class, split, where)`` per entry of a JSON list (see the module docstring)."""
    try:
        content = json.loads(read_utf8_text(path, "a JSON list"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if isinstance(content, dict):  # CoOp's {"train": [[path, label, class], ...]}
        entries = [(row[0], row[2], split) if isinstance(row, (list, tuple)) and len(row) == 3 else row
                   for split, items in content.items() for row in (items if isinstance(items, list) else [items])]
    elif isinstance(content, list):
        entries = content
    else:
        raise ValueError(f"{path}: expected a JSON list of entries or a {{'train': [...], ...}} object")
    rows = []
    for position, entry in enumerate(entries):
        where = f"{path}[{position}]"
        if isinstance(entry, dict) and all(key in entry for key in CSV_COLUMNS):
            values = [entry[key] for key in CSV_COLUMNS]
        elif isinstance(entry, (list, tuple)) and len(entry) == 3:
            values = list(entry)
        else:
            raise ValueError(f"{where}: expected {{'path', 'class', 'split'}} or [path, class, split], got {entry!r}")
        rows.append((str(values[0]).strip(), str(values[1]).strip(), str(values[2]).strip().lower(), where))
    return rows


def folder_rows(image_root: str) -> list[tuple[str, str, str, str]]:
    """``(path, class, split, where)`` for every image of ``image_root/<split>/<class>/``."""
    rows = []
    for split in SPLIT_NAMES:
        split_dir = os.path.join(image_root, split)
        if not os.path.isdir(split_dir):
            continue
        for folder in sorted(os.listdir(split_dir)):
            folder_dir = os.path.join(split_dir, folder)
            if folder.startswith(".") or not os.path.isdir(folder_dir):
                continue
            for filename in sorted(os.listdir(folder_dir)):
                if not filename.startswith(".") and filename.lower().endswith(IMAGE_EXTENSIONS):
                    rows.append((os.path.join(split, folder, filename), folder, split, folder_dir))
    return rows


def _row_in(where: str, source: str) -> str:
    """``line 12`` of a CSV list, ``[3]`` of a JSON list: a row's place without repeating the file's path."""
    place = where[len(source):] if where.startswith(source) else where
    return f"line {place[1:]}" if place.startswith(":") else place


def check_repeated_images(rows: Sequence[tuple[str, str, str, str]], image_root: str, source: str,
                          allow: bool) -> None:
    """Refuse an image listed more than once: in two splits (trained on and tested on), or twice in one.

    A duplicate row would count its image twice in training or in the metrics, and an image in
    train and test inflates the test numbers. Paths are compared by ``os.path.realpath`` under
    ``image_root`` (a symlink, or a link's folder, to a listed image is that image). With ``allow``
    (``DATASET.HIERCONFIG.ALLOW_DUPLICATES``) the rows are kept as listed and one line says how many repeat.
    """
    rows_of: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for path, _, split, where in rows:
        rows_of[os.path.realpath(os.path.join(image_root, path))].append((path, split, where))
    repeated = [listed for listed in rows_of.values() if len(listed) > 1]
    if not repeated:
        return
    across = [listed for listed in repeated if len({split for _, split, _ in listed}) > 1]
    if allow:
        print(f"Note: {source}: {len(repeated)} image(s) listed more than once ({len(across)} in more than one "
              f"split), kept as listed (DATASET.HIERCONFIG.ALLOW_DUPLICATES True)")
        return
    listed_wrong = across or repeated
    examples = "; ".join(f"{listed[0][0]!r} (" + ", ".join(f"{_row_in(where, source)} {split}"
                                                           for _, split, where in listed) + ")"
                         for listed in listed_wrong[:REPEATS_SHOWN])
    more = f" (+{len(listed_wrong) - REPEATS_SHOWN} more)" if len(listed_wrong) > REPEATS_SHOWN else ""
    what = (f"{len(across)} image(s) listed in more than one split" if across
            else f"{len(repeated)} image(s) listed more than once in one split")
    others = f"; {len(repeated) - len(across)} repeated within one split" if across and len(repeated) > len(across) else ""
    raise InputError(f"{source}: {what}: {examples}{more}{others}; list each image once, or set "
                     f"DATASET.HIERCONFIG.ALLOW_DUPLICATES True")


@register_dataset
class HierConfigDataset(HierarchicalDataset):
    """Any dataset described by ``DATASET.HIERCONFIG`` (see the module docstring)."""

    def load_source(self, cfg) -> DatasetSource:
        node = cfg.DATASET.HIERCONFIG
        if not cfg.DATASET.DISPLAY_NAME:
            raise ValueError("HierConfigDataset: set DATASET.DISPLAY_NAME (the dataset's name in results and templates)")
        for key in ("IMAGE_ROOT", "HIERARCHY"):
            if not node[key]:
                raise ValueError(f"HierConfigDataset: set DATASET.HIERCONFIG.{key}; expected {LAYOUT}")
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        image_root = _under_root(root, node.IMAGE_ROOT)
        hierarchy_path = _under_root(root, node.HIERARCHY)
        if not os.path.isfile(hierarchy_path):
            hierarchy_path = resolve_hierarchy_file(node.HIERARCHY)
        hierarchy = load_hierarchy(hierarchy_path)
        name = f"HierConfigDataset {cfg.DATASET.DISPLAY_NAME!r}"

        if node.SPLIT_FILE:
            split_path = _under_root(root, node.SPLIT_FILE)
            require_paths(name, [image_root + "/", split_path], LAYOUT, "the dataset's own files")
            extension = os.path.splitext(split_path)[1].lower()
            if extension not in (".csv", ".json"):
                raise ValueError(f"{split_path}: DATASET.HIERCONFIG.SPLIT_FILE must be a .csv or .json file")
            rows = read_csv_list(split_path) if extension == ".csv" else read_json_list(split_path)
            source, dataset_dir = split_path, os.path.dirname(split_path)
        else:
            require_paths(name, [image_root + "/", os.path.join(image_root, "train") + "/",
                                 os.path.join(image_root, "test") + "/"], LAYOUT, "the dataset's own files")
            rows = folder_rows(image_root)
            source, dataset_dir = image_root, image_root

        check_repeated_images(rows, image_root, source, bool(read_key(cfg, "DATASET.HIERCONFIG.ALLOW_DUPLICATES")))
        splits = self._to_splits(rows, image_root, hierarchy, source, hierarchy_path)
        if not splits["val"]:
            splits["train"], splits["val"] = carve_val(splits["train"], float(cfg.DATASET.VAL_FRACTION),
                                                       seed=VAL_SPLIT_SEED)
        return DatasetSource(dataset_dir, image_root, hierarchy, splits["train"], splits["val"], splits["test"],
                             images_checked=True)

    def _to_splits(self, rows, image_root: str, hierarchy: Hierarchy, source: str, hierarchy_path: str):
        for path, _, split, where in rows:
            if split not in SPLIT_NAMES:
                raise ValueError(f"{where}: split {split!r} of {path!r} is not one of {', '.join(SPLIT_NAMES)}")
        check_class_names([name for _, name, _, _ in rows], hierarchy, source, hierarchy_path,
                          covering=[name for _, name, split, _ in rows if split == "train"],
                          covering_where=f"the train split of {source}")
        if not any(split == "test" for _, _, split, _ in rows):
            raise ValueError(f"{source}: no test images (split 'test')")
        leaf_index = {name: index for index, name in enumerate(hierarchy.leaf_names)}
        splits: dict[str, list[Datum]] = {split: [] for split in SPLIT_NAMES}
        for path, name, split, where in rows:
            impath = os.path.join(image_root, path)
            if self.image_check.usable(impath, where):
                label = leaf_index[normalize_classname(name)]
                splits[split].append(Datum(impath=impath, label=label, classname=hierarchy.leaf_names[label]))
        for split in SPLIT_NAMES:
            splits[split].sort(key=lambda item: (item.label, item.impath))
        return splits
