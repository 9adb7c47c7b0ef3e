"""Checks on a dataset's layout and splits, each failing with one line that says what to fix.

* :func:`require_paths` -- the dataset's root, image folder and split files exist; the error gives
  the expected layout and where the data is downloaded from.
* :func:`check_class_names` -- the classes found in the data are exactly the hierarchy's leaves;
  the error lists up to 10 names on each side.
* :func:`check_splits` -- a split with no images, or a class without training or test images, is an
  error (a class without test images is never evaluated; one without training images never learnt).
* :func:`shots_used` / :func:`warn_if_fewer_shots` -- ``DATASET.NUM_SHOTS`` above what a class has
  is a one-line warning, and the shots actually used (fewest and most training images per class)
  go into ``results.json`` (``num_shots_used``).

The images themselves are checked by :mod:`hgclip.datasets.image_check` (``DATASET.CHECK_IMAGES``).
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any, Iterable, Optional, Sequence

from ..common.errors import InputError
from ..hierarchy import Hierarchy, normalize_classname

PREVIEW = 10


def preview(names: Sequence[str], limit: int = PREVIEW) -> str:
    """``'a', 'b' (+3 more)``: at most ``limit`` names of a list, for one-line errors."""
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


class DatasetLayoutError(FileNotFoundError):
    """A dataset's root, image folder or split file is missing."""


def require_paths(dataset: str, paths: Iterable[str], layout: str, download: str) -> None:
    """Raise a one-line :class:`DatasetLayoutError` naming the first missing path.

    Args:
        dataset: the dataset's ``DATASET.NAME`` (starts the message).
        paths: files or folders that must exist (a trailing ``/`` means a folder).
        layout: the expected layout, e.g. ``"<ROOT>/oxford_pets/{images/, split_zhou_OxfordPets.json}"``.
        download: where the data comes from (URLs, or CoOp's DATASETS.md section).
    """
    for path in paths:
        want_dir = path.endswith("/")
        exists = os.path.isdir(path) if want_dir else os.path.isfile(path)
        if not exists:
            raise DatasetLayoutError(
                f"{dataset}: {path} not found; expected {layout}; download: {download}"
            )


def check_same_names(
    found: Iterable[str],
    expected: Sequence[str],
    found_where: str,
    expected_where: str,
    what: str = "class names",
    every_expected: bool = True,
    covering: Optional[Iterable[str]] = None,
    covering_where: str = "",
) -> None:
    """Every name found must be expected, and every expected name must be found.

    Args:
        every_expected: False to allow expected names that were not found.
        covering: the names that must include every expected one, when that is a subset of
            ``found`` (e.g. the classes of the train split); described by ``covering_where``.

    Raises:
        ValueError: one line naming both sources and listing up to 10 names on each side.
    """
    found_names = list(dict.fromkeys(found))
    cover = set(found_names) if covering is None else set(covering)
    expected_set = set(expected)
    unknown = [name for name in found_names if name not in expected_set]
    missing = [name for name in expected if name not in cover] if every_expected else []
    if not unknown and not missing:
        return
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} in {found_where} but not in {expected_where}: {preview(unknown)}")
    if missing:
        problems.append(f"{len(missing)} in {expected_where} but not in {covering_where or found_where}: {preview(missing)}")
    raise ValueError(f"{what} do not match: " + "; ".join(problems))


def check_class_names(
    found: Iterable[str],
    hierarchy: Hierarchy,
    where: str,
    hierarchy_source: str,
    every_leaf: bool = True,
    covering: Optional[Iterable[str]] = None,
    covering_where: str = "",
) -> None:
    """The class names found in the data must be leaves of the hierarchy, and every leaf must be
    found (in ``covering`` if given, e.g. the train split), compared after
    :func:`hierarchy.normalize_classname`.

    Raises:
        ValueError: one line naming both sources and listing up to 10 names on each side.
    """
    check_same_names(
        (normalize_classname(str(name)) for name in found),
        hierarchy.leaf_names,
        where,
        f"the leaves of {hierarchy_source}",
        what="class names and hierarchy leaves",
        every_expected=every_leaf,
        covering=None if covering is None else [normalize_classname(str(name)) for name in covering],
        covering_where=covering_where,
    )


def class_counts(items: Sequence[Any], num_classes: int) -> list[int]:
    """Images per label ``0..num_classes-1`` (0 for a label without images)."""
    counts = Counter(int(item.label) for item in items)
    return [counts.get(label, 0) for label in range(num_classes)]


def check_splits(train: Sequence[Any], test: Sequence[Any], class_names: Sequence[str], where: str) -> None:
    """Raise one line when the train or test split is empty or a class has no image in one of them."""
    for name, items in (("train", train), ("test", test)):
        if not items:
            raise InputError(f"{where}: the {name} split has no images; expected at least one image per class")
        counts = class_counts(items, len(class_names))
        empty = [class_names[label] for label, count in enumerate(counts) if count == 0]
        if empty:
            raise InputError(f"{where}: {len(empty)} class(es) have no images in the {name} split: {preview(empty, 5)}; "
                             "expected at least one image per class")


def shots_used(dataset: Any, num_classes: int) -> dict[str, int]:
    """Fewest and most training images of a class (what NUM_SHOTS actually gave)."""
    counts = class_counts(dataset.train_x, num_classes)
    return {"min": min(counts), "max": max(counts)}


def warn_if_fewer_shots(num_shots: int, used: dict[str, int], dataset_name: str) -> None:
    """One line on stderr when a class has fewer training images than ``DATASET.NUM_SHOTS`` asked for."""
    if num_shots >= 1 and used["min"] < num_shots:
        print(f"warning: DATASET.NUM_SHOTS {num_shots} is more than some classes of {dataset_name} have "
              f"(fewest: {used['min']} training images); those classes use all of theirs "
              f"(results.json: num_shots_used)", file=sys.stderr, flush=True)
