"""Checks made when a dataset is loaded, each failing with one line that says what to fix.

* :func:`require_paths` -- the dataset's root, image folder and split files exist; the error gives
  the expected layout and where the data is downloaded from.
* :func:`check_class_names` -- the classes found in the data are exactly the hierarchy's leaves;
  the error lists up to 10 names on each side.
* :class:`ImageCheck` -- every listed image is usable (``DATASET.CHECK_IMAGES``); the error gives the
  path, and ``DATASET.SKIP_UNREADABLE`` drops such images and reports how many were dropped.

Image checks are kept cheap by default: ``exists`` costs one ``os.stat`` per image (what Dassl's
``Datum`` already pays to test that the file exists) and catches missing and empty (zero-byte)
files. ``header`` also opens each file with PIL and parses its header (catches files that are not
images or whose header is truncated; it doubled the load time of a 21k-image ImageNet-layout tree
of small cached files here, and costs a file open per image, far more on a cold or network disk);
``decode`` decodes every image fully (catches truncated image data; slow, meant for small datasets
or a one-off audit). Images are always decoded when they are read for training or
testing, and an image that fails there names its path too (Dassl's ``read_image``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from PIL import Image

from ..hierarchy import Hierarchy, normalize_classname

CHECK_MODES = ("exists", "header", "decode")
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


class UnreadableImageError(OSError):
    """An image listed by a dataset is missing, empty or cannot be parsed."""


@dataclass
class ImageCheck:
    """Checks images as a dataset is read (see the module docstring for the modes and costs).

    Readers call :meth:`usable` before building a ``Datum``; :meth:`report` prints how many images
    were skipped. With ``skip`` False the first unusable image stops loading.
    """

    mode: str = "exists"
    skip: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        mode = str(self.mode).strip().lower()
        if mode not in CHECK_MODES:
            raise ValueError(f"DATASET.CHECK_IMAGES must be one of {', '.join(CHECK_MODES)}; got {self.mode!r}")
        self.mode = mode

    @classmethod
    def from_cfg(cls, cfg) -> "ImageCheck":
        return cls(mode=cfg.DATASET.get("CHECK_IMAGES", "exists"), skip=bool(cfg.DATASET.get("SKIP_UNREADABLE", False)))

    def problem(self, path: str) -> str:
        """Why ``path`` cannot be used ("" when it can)."""
        try:
            size = os.stat(path).st_size
        except OSError:
            return "not found"
        if size == 0:
            return "empty file"
        if self.mode == "exists":
            return ""
        try:
            with Image.open(path) as image:
                if self.mode == "decode":
                    image.load()
        except Exception as error:  # PIL raises many types for a bad file
            return f"{type(error).__name__}: {error}"
        return ""

    def usable(self, path: str, where: str) -> bool:
        """True if ``path`` may be used; False if it is unusable and skipped.

        Raises:
            UnreadableImageError: the image is unusable and ``skip`` is off.
        """
        reason = self.problem(path)
        if not reason:
            return True
        if not self.skip:
            raise UnreadableImageError(
                f"{where}: unusable image {path} ({reason}); fix or remove it, "
                "or set DATASET.SKIP_UNREADABLE True to leave such images out"
            )
        self.skipped.append((path, reason))
        return False

    def report(self, dataset: str) -> None:
        """Print the number of skipped images (and the first one), if any."""
        if self.skipped:
            path, reason = self.skipped[0]
            print(f"{dataset}: skipped {len(self.skipped)} unusable image(s) (DATASET.SKIP_UNREADABLE); first: {path} ({reason})")
