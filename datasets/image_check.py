"""Read every listed image once before training starts, so a corrupt file stops the run at once.

Without this, a truncated JPEG in the test split is found after hours of training, when
the final evaluation reaches it. Each image is decoded as the data loader decodes it
(PIL, converted to RGB), on a few threads (decoding releases the GIL). ``DATASET.VERIFY_IMAGES
False`` skips the check for very large splits.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Optional, Sequence

from PIL import Image

from ..common.errors import InputError


def _problem(path: str) -> Optional[str]:
    try:
        with Image.open(path) as image:
            image.convert("RGB")
    except Exception as error:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        return " ".join(f"{type(error).__name__}: {error}".split())
    return None


def verify_images(splits: Mapping[str, Sequence], dataset: str = "", threads: int = 8) -> int:
    """Decode every image of ``splits`` (name -> Datum list); raise one line naming the first bad file.

    Returns the number of images checked. A path listed twice is decoded once.
    """
    owners: dict[str, str] = {}
    for split, items in splits.items():
        for item in items:
            owners.setdefault(item.impath, split)
    paths = list(owners)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for path, problem in zip(paths, pool.map(_problem, paths)):
            if problem is not None:
                where = f"the {owners[path]} split" + (f" of {dataset}" if dataset else "")
                raise InputError(f"{path}: cannot read this image, listed in {where} ({problem}); "
                                 "expected a readable image file (replace or remove it)")
    return len(paths)
