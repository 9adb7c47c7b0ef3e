"""FGVC-Aircraft (2013b): manufacturer > family > variant, from the official annotations.

Expected layout: the official archive unpacked in ``DATASET.ROOT``::

    <ROOT>/fgvc-aircraft-2013b/data/
        variants.txt  families.txt  manufacturers.txt          one name per line
        images_{variant,family,manufacturer}_{train,val,test}.txt   "<image id> <name>" per line
        images/<image id>.jpg

CoOp's layout (the same ``data`` folder moved to ``<ROOT>/fgvc_aircraft``) is found
too, so an existing CoOp data root works unchanged.

The tree is implied by the per-image co-labels: an image's variant, family and
manufacturer files agree on its id. Each variant must have exactly one family and
one manufacturer (and each family one manufacturer); a conflict is reported as a
one-line error naming the file and line. Leaves follow the order of ``variants.txt``.
Splits are the official train / val / test lists.
"""
from __future__ import annotations

import os

from ..hierarchy import Hierarchy, normalize_classname
from ..registry import register_dataset
from ..runtime.dassl_api import Datum
from .base import DatasetSource, HierarchicalDataset, write_text_if_changed
from .leaf_match import ClassTree

LAYOUTS = (os.path.join("fgvc-aircraft-2013b", "data"), "fgvc_aircraft")
LEVELS = ("manufacturer", "family", "variant")
SPLITS = ("train", "val", "test")


def find_data_dir(root: str) -> str:
    """The first known layout under ``root`` that has ``variants.txt``."""
    candidates = [os.path.join(root, layout) for layout in LAYOUTS]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "variants.txt")):
            return candidate
    raise FileNotFoundError(
        f"FGVCAircraft: no variants.txt in {' or '.join(candidates)}; unpack fgvc-aircraft-2013b.tar.gz "
        "(https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/) into DATASET.ROOT"
    )


def read_names(path: str) -> list[str]:
    """A one-name-per-line file (blank lines skipped)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"FGVCAircraft: {path} not found")
    with open(path, "r", encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def read_image_labels(path: str) -> list[tuple[str, str, int]]:
    """``(image id, name, line number)`` per line of an ``images_<level>_<split>.txt`` file.

    Names may contain spaces ("Falcon 2000"), so only the first space separates.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"FGVCAircraft: {path} not found")
    rows = []
    with open(path, "r", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            image_id, _, name = line.partition(" ")
            if not name.strip():
                raise ValueError(f"{path}:{line_number}: expected '<image id> <name>', got {line!r}")
            rows.append((image_id, name.strip(), line_number))
    return rows


class _ParentTable:
    """child -> parent, remembering where each pair was first seen, to report conflicts."""

    def __init__(self, child_level: str, parent_level: str):
        self.child_level, self.parent_level = child_level, parent_level
        self.parent: dict[str, tuple[str, str]] = {}

    def add(self, child: str, parent: str, where: str) -> None:
        known = self.parent.setdefault(child, (parent, where))
        if known[0] != parent:
            raise ValueError(
                f"{where}: {self.child_level} {child!r} has {self.parent_level} {parent!r}, "
                f"but {known[1]} gives {known[0]!r}"
            )


def read_split(data_dir: str, split: str, variant_parent: dict[str, _ParentTable], family_parent: _ParentTable):
    """The (image id, variant) list of one split, recording every co-label pair."""
    labels = {}
    for level in LEVELS:
        path = os.path.join(data_dir, f"images_{level}_{split}.txt")
        labels[level] = {image_id: (name, f"{path}:{line}") for image_id, name, line in read_image_labels(path)}
    items = []
    for image_id, (variant, where) in labels["variant"].items():
        for level in ("family", "manufacturer"):
            if image_id not in labels[level]:
                raise ValueError(f"{where}: image {image_id} has no entry in images_{level}_{split}.txt")
        family, family_where = labels["family"][image_id]
        manufacturer, manufacturer_where = labels["manufacturer"][image_id]
        variant_parent["family"].add(variant, family, family_where)
        variant_parent["manufacturer"].add(variant, manufacturer, manufacturer_where)
        family_parent.add(family, manufacturer, manufacturer_where)
        items.append((image_id, variant, where))
    return items


def _check_listed(names: set[str], listed: list[str], level: str, data_dir: str) -> None:
    unknown = sorted(names - set(listed))
    if unknown:
        raise ValueError(f"{os.path.join(data_dir, level + 's.txt')}: does not list the {level}(s) {unknown[:5]}")


def read_annotations(data_dir: str) -> tuple[Hierarchy, dict[str, list]]:
    """The tree implied by the per-image co-labels (leaves in ``variants.txt`` order) and each split's
    ``(image id, variant, where)`` items: what both the reader and the plugin route use."""
    variants = read_names(os.path.join(data_dir, "variants.txt"))
    variant_parent = {level: _ParentTable("variant", level) for level in ("family", "manufacturer")}
    family_parent = _ParentTable("family", "manufacturer")
    split_items = {split: read_split(data_dir, split, variant_parent, family_parent) for split in SPLITS}

    _check_listed(set(variant_parent["family"].parent), variants, "variant", data_dir)
    _check_listed(set(family_parent.parent), read_names(os.path.join(data_dir, "families.txt")), "family", data_dir)
    manufacturers = {parent for parent, _ in family_parent.parent.values()}
    _check_listed(manufacturers, read_names(os.path.join(data_dir, "manufacturers.txt")), "manufacturer", data_dir)
    unseen = [variant for variant in variants if variant not in variant_parent["family"].parent]
    if unseen:
        raise ValueError(
            f"{os.path.join(data_dir, 'variants.txt')}: variant(s) {unseen[:5]} have no image, so their family is unknown"
        )
    hierarchy = Hierarchy(
        LEVELS,
        [(variant_parent["manufacturer"].parent[v][0], variant_parent["family"].parent[v][0], v) for v in variants],
    )
    return hierarchy, split_items


@register_dataset
class FGVCAircraft(HierarchicalDataset):
    """FGVC-Aircraft: 30 manufacturers > 70 families > 100 variants, official splits.

    The tree is derived from the annotation files under ``DATASET.ROOT`` (:meth:`class_tree`), which a
    CoOp checkout's ``fgvc_aircraft/`` folder has too, so its flat FGVCAircraft gets the same three levels.
    """

    @classmethod
    def class_tree(cls, cfg) -> ClassTree:
        data_dir = find_data_dir(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)))
        hierarchy, _ = read_annotations(data_dir)
        return ClassTree(hierarchy, f"the annotations in {data_dir} (images_{{variant,family,manufacturer}}_*.txt)")

    def load_source(self, cfg) -> DatasetSource:
        data_dir = find_data_dir(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)))
        image_dir = os.path.join(data_dir, "images")
        hierarchy, split_items = read_annotations(data_dir)
        write_text_if_changed(
            os.path.join(data_dir, "hierarchy.txt"),
            "# Derived from the per-image annotations of FGVC-Aircraft (datasets/fgvc_aircraft.py).\n"
            + hierarchy.to_text(),
        )
        leaf_index = {name: index for index, name in enumerate(hierarchy.leaf_names)}

        def to_data(items) -> list[Datum]:
            data = []
            for image_id, variant, where in items:
                impath = os.path.join(image_dir, f"{image_id}.jpg")
                if not os.path.isfile(impath):
                    raise FileNotFoundError(f"{where}: image not found: {impath}")
                label = leaf_index[normalize_classname(variant)]
                data.append(Datum(impath=impath, label=label, classname=hierarchy.leaf_names[label]))
            return data

        splits = {split: to_data(items) for split, items in split_items.items()}
        return DatasetSource(data_dir, image_dir, hierarchy, splits["train"], splits["val"], splits["test"])
