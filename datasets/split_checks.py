"""Checks on the splits a run is about to use: what would otherwise give a wrong or silently partial result.

* a split with no images, or a class without training or test images: a one-line error
  (a class without test images is never evaluated; one without training images never learnt);
* ``DATASET.NUM_SHOTS`` above what a class has: a one-line warning, and the shots actually
  used (fewest and most training images per class) go into ``results.json``
  (``num_shots_used``).
"""
from __future__ import annotations

import sys
from collections import Counter
from typing import Any, Sequence

from ..common.errors import InputError


def class_counts(items: Sequence[Any], num_classes: int) -> list[int]:
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
            shown = ", ".join(repr(c) for c in empty[:5]) + (f" (+{len(empty) - 5} more)" if len(empty) > 5 else "")
            raise InputError(f"{where}: {len(empty)} class(es) have no images in the {name} split: {shown}; "
                             "expected at least one image per class")


def shots_used(dataset: Any, num_classes: int) -> dict[str, int]:
    """Fewest and most training images of a class (what NUM_SHOTS actually gave)."""
    counts = class_counts(dataset.train_x, num_classes)
    return {"min": min(counts), "max": max(counts)}


def warn_if_fewer_shots(num_shots: int, used: dict[str, int], dataset_name: str) -> None:
    if num_shots >= 1 and used["min"] < num_shots:
        print(f"warning: DATASET.NUM_SHOTS {num_shots} is more than some classes of {dataset_name} have "
              f"(fewest: {used['min']} training images); those classes use all of theirs "
              f"(results.json: num_shots_used)", file=sys.stderr, flush=True)
