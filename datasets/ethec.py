"""ETHEC butterflies: family > subfamily > genus > species, species keyed by the full binomial.

Expected layout (the ETHEC release unpacked in ``DATASET.ROOT``)::

    <ROOT>/ETHEC_dataset/splits/{train,val,test}.json
    <ROOT>/ETHEC_dataset/<any sub-folders>/<image files>   (e.g. IMAGO_build_test_resized/...)

Each split file maps a token to an entry with ``family``, ``subfamily``, ``genus``,
``specific_epithet``, ``image_name`` and ``image_path``. Images are found by file
name anywhere under ``ETHEC_dataset/`` (the release nests them in folders derived
from the name), trying ``image_name`` and then the base name of ``image_path``.

Species are keyed by ``"<genus> <specific epithet>"``: keying by the epithet alone
(as the official HGCLIP code does) merges 561 species into 551 because ten epithets
occur in two genera. The tree is derived from the entries' co-labels (a species
under two genera, etc., is a one-line error naming the file and token) and its
leaves are sorted by their root-to-leaf path, so the label order does not depend
on the order of the JSON files.
"""
from __future__ import annotations

import json
import os

from ..hierarchy import Hierarchy, normalize_classname
from ..registry import register_dataset
from ..runtime.dassl_api import Datum
from .base import DatasetSource, HierarchicalDataset, write_text_if_changed

DATASET_DIR = "ETHEC_dataset"
LEVELS = ("family", "subfamily", "genus", "species")
SPLITS = ("train", "val", "test")
FIELDS = ("family", "subfamily", "genus", "specific_epithet", "image_name", "image_path")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def index_images(directory: str) -> dict[str, list[str]]:
    """File name -> every path under ``directory`` with that name."""
    index: dict[str, list[str]] = {}
    for parent, _dirs, files in os.walk(directory):
        for filename in files:
            if filename.lower().endswith(IMAGE_EXTENSIONS):
                index.setdefault(filename, []).append(os.path.join(parent, filename))
    return index


def read_entries(path: str) -> list[tuple[str, dict]]:
    """``(token, entry)`` pairs of one split file, with the required fields checked."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ETHEC: split file not found: {path}")
    with open(path, "r", encoding="utf-8") as handle:
        content = json.load(handle)
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a JSON object mapping tokens to entries")
    for token, entry in content.items():
        missing = [key for key in FIELDS if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise ValueError(f"{path}: entry {token!r} lacks the field(s) {missing}")
    return list(content.items())


def species_path(entry: dict) -> tuple[str, str, str, str]:
    """(family, subfamily, genus, binomial) of one entry, names normalised."""
    genus = normalize_classname(entry["genus"])
    return (
        normalize_classname(entry["family"]),
        normalize_classname(entry["subfamily"]),
        genus,
        normalize_classname(f"{genus} {entry['specific_epithet']}"),
    )


def find_image(entry: dict, index: dict[str, list[str]], where: str) -> str:
    for candidate in (entry["image_name"], os.path.basename(entry["image_path"])):
        paths = index.get(os.path.basename(str(candidate)), [])
        if len(paths) == 1:
            return paths[0]
        if len(paths) > 1:
            raise ValueError(f"{where}: image name {candidate!r} is ambiguous: {paths[:2]}")
    raise FileNotFoundError(f"{where}: no image named {entry['image_name']!r} under the dataset directory")


@register_dataset
class ETHEC(HierarchicalDataset):
    """ETHEC: 6 families > 21 subfamilies > 135 genera > 561 species (binomial names)."""

    def load_source(self, cfg) -> DatasetSource:
        dataset_dir = os.path.join(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)), DATASET_DIR)
        entries = {split: read_entries(os.path.join(dataset_dir, "splits", f"{split}.json")) for split in SPLITS}

        parent_of: dict[tuple[int, str], tuple[str, str]] = {}  # (level, name) -> (parent, where first seen)
        paths = set()
        for split, items in entries.items():
            for token, entry in items:
                path = species_path(entry)
                where = f"{os.path.join(dataset_dir, 'splits', split + '.json')}: entry {token!r}"
                for level in range(1, len(LEVELS)):
                    known = parent_of.setdefault((level, path[level]), (path[level - 1], where))
                    if known[0] != path[level - 1]:
                        raise ValueError(
                            f"{where}: {LEVELS[level]} {path[level]!r} is under {LEVELS[level - 1]} "
                            f"{path[level - 1]!r}, but {known[1]} puts it under {known[0]!r}"
                        )
                paths.add(path)
        hierarchy = Hierarchy(LEVELS, sorted(paths))
        write_text_if_changed(
            os.path.join(dataset_dir, "hierarchy.txt"),
            "# Derived from the ETHEC split files (datasets/ethec.py); species = genus + epithet.\n"
            + hierarchy.to_text(),
        )

        leaf_index = {name: label for label, name in enumerate(hierarchy.leaf_names)}
        images = index_images(dataset_dir)
        splits = {}
        for split, items in entries.items():
            where = os.path.join(dataset_dir, "splits", split + ".json")
            data = []
            for token, entry in items:
                label = leaf_index[species_path(entry)[-1]]
                impath = find_image(entry, images, f"{where}: entry {token!r}")
                data.append(Datum(impath=impath, label=label, classname=hierarchy.leaf_names[label]))
            splits[split] = data
        return DatasetSource(dataset_dir, dataset_dir, hierarchy, splits["train"], splits["val"], splits["test"])
