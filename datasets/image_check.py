"""The one image check: ``DATASET.CHECK_IMAGES`` says how hard each listed image is looked at before training.

* ``exists`` (the default): one ``os.stat`` per image, catching missing and empty (zero-byte)
  files; no image is opened (what Dassl's ``Datum`` already pays to test that a file exists).
* ``header``: PIL also opens each file and parses its header (catches files that are not images or
  whose header is truncated; a file open per image, far more on a cold or network disk).
* ``decode``: PIL decodes every image fully, on a few threads where the whole list is known
  (catches truncated image data; meant for small datasets or a one-off audit).

Every mode honours ``DATASET.SKIP_UNREADABLE``: without it the first unusable image stops loading
with one line naming the file and where it is listed; with it such images are left out and their
count is printed once. Images are decoded anyway when they are read for training or testing; an
image that fails there (a truncated file that passed ``exists``) stops the run with one line naming
it too (:func:`read_failure`, raised by the loader, also from a data-loader worker and on whichever
process of a torchrun read it).

The datasets of this project check their images as they list them (:class:`ImageCheck`); the
engine calls :func:`check_dataset_images` once after the data manager built the dataset, which
checks the datasets that were not read here (a CoOp/MaPLe checkout's own, in the plugin route).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

from PIL import Image

from ..common.errors import InputError
from ..config import read_key

CHECK_MODES = ("exists", "header", "decode")
DECODE_THREADS = 8  # decoding releases the GIL; a few threads keep one core's worth of work per thread busy


def _raised_in_worker(message: str, cls: type) -> str:
    """The original message of ``cls`` re-raised by a data-loader worker.

    torch re-raises a worker's exception as ``cls(text)`` where ``text`` is "Caught ... Original Traceback
    ..." with the whole worker traceback; the one line the user needs is the last line of that text.
    """
    if not (message.startswith("Caught ") and "\nOriginal Traceback" in message):
        return message
    marker = f"{cls.__module__}.{cls.__qualname__}: "
    for line in reversed(message.splitlines()):
        if line.startswith(marker):
            return line[len(marker):]
    return message


class UnreadableImageError(InputError, OSError):
    """An image listed by a dataset is missing, empty or cannot be parsed (bad input: one line, exit code 2)."""

    #: True for an error only the process that read the image knows of (its shard): every rank reports it
    rank_local = False

    def __init__(self, message: str = "") -> None:
        super().__init__(_raised_in_worker(str(message), type(self)))


class ImageReadError(UnreadableImageError):
    """An image that could not be decoded when the data loader read it, after the listing's check passed it."""

    rank_local = True


def read_failure(path: str) -> ImageReadError | None:
    """The one-line error for ``path`` if it cannot be decoded (called after reading it failed), else None."""
    problem = image_problem(path, "decode")
    if not problem:
        return None
    return ImageReadError(f"{path}: cannot read this image ({problem}); expected a readable image file: fix or "
                          "remove it (DATASET.CHECK_IMAGES decode finds every such image before training)")


def image_problem(path: str, mode: str = "exists") -> str:
    """Why ``path`` cannot be used under ``mode`` ("" when it can)."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return "not found"
    if size == 0:
        return "empty file"
    if mode == "exists":
        return ""
    try:
        with Image.open(path) as image:
            if mode == "decode":
                image.convert("RGB")  # as the data loader reads it
    except Exception as error:  # PIL raises many types for a bad file (OSError, SyntaxError, ValueError, ...)
        return " ".join(f"{type(error).__name__}: {error}".split())
    return ""


@dataclass
class ImageCheck:
    """Checks images as a dataset is read (see the module docstring for the modes and their costs).

    Readers call :meth:`usable` before building a ``Datum`` (or :meth:`keep_usable` on a whole list);
    :meth:`report` prints how many images were skipped. With ``skip`` False the first unusable
    image stops loading.
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
    def from_cfg(cls, cfg: Any) -> ImageCheck:
        return cls(mode=read_key(cfg, "DATASET.CHECK_IMAGES"), skip=bool(read_key(cfg, "DATASET.SKIP_UNREADABLE")))

    def problem(self, path: str) -> str:
        """Why ``path`` cannot be used ("" when it can)."""
        return image_problem(path, self.mode)

    def usable(self, path: str, where: str) -> bool:
        """True if ``path`` may be used; False if it is unusable and skipped.

        Raises:
            UnreadableImageError: the image is unusable and ``skip`` is off.
        """
        return self._decide(path, self.problem(path), where)

    def keep_usable(self, items: Sequence[Any], where: str) -> list[Any]:
        """The ``Datum`` items of ``items`` whose image is usable, in order (opened on threads unless ``exists``)."""
        paths = [item.impath for item in items]
        if self.mode == "exists" or len(paths) < 2:
            problems = [self.problem(path) for path in paths]
        else:
            with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
                problems = list(pool.map(self.problem, paths))
        return [item for item, path, problem in zip(items, paths, problems) if self._decide(path, problem, where)]

    def _decide(self, path: str, reason: str, where: str) -> bool:
        if not reason:
            return True
        if not self.skip:
            raise UnreadableImageError(
                f"{path}: cannot read this image, listed in {where} ({reason}); expected a readable image file: "
                "fix or remove it, or set DATASET.SKIP_UNREADABLE True to leave such images out"
            )
        self.skipped.append((path, reason))
        return False

    def report(self, dataset: str) -> None:
        """Print the number of skipped images (and the first one), if any."""
        if self.skipped:
            path, reason = self.skipped[0]
            print(f"{dataset}: skipped {len(self.skipped)} unusable image(s) (DATASET.SKIP_UNREADABLE); first: {path} ({reason})")


def check_dataset_images(cfg: Any, dataset: Any) -> None:
    """Apply ``DATASET.CHECK_IMAGES`` to a built dataset's splits, unless its reader already did.

    This project's datasets check while reading (they carry an ``image_check``); any other dataset
    (a checkout's own) is checked here, its split lists filtered in place under ``SKIP_UNREADABLE``.
    """
    if getattr(dataset, "image_check", None) is not None:
        return
    check = ImageCheck.from_cfg(cfg)
    name = str(cfg.DATASET.NAME) or type(dataset).__name__
    seen: set[int] = set()
    for split in ("train_x", "val", "test"):
        items = getattr(dataset, split, None)
        if isinstance(items, list) and id(items) not in seen:
            seen.add(id(items))
            items[:] = check.keep_usable(items, f"the {split.replace('_x', '')} split of {name}")
    check.report(name)
