"""Small file-system, seeding and environment helpers with Dassl's names."""
from __future__ import annotations

import difflib
import os
import random
import warnings
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image


def mkdir_if_missing(dirname: str) -> None:
    """Create ``dirname`` (and parents) unless it exists."""
    if dirname:
        os.makedirs(dirname, exist_ok=True)


def check_isfile(fpath: str) -> bool:
    """Return whether ``fpath`` is a file; warn when it is not (as Dassl does)."""
    isfile = os.path.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"')
    return isfile


def listdir_nohidden(path: str, sort: bool = False) -> list[str]:
    """List the entries of ``path`` that do not start with a dot."""
    items = [name for name in os.listdir(path) if not name.startswith(".")]
    if sort:
        items.sort()
    return items


def read_image(path: str) -> Image.Image:
    """Open an image with PIL and convert it to RGB."""
    with Image.open(path) as image:
        return image.convert("RGB")


def set_random_seed(seed: int) -> None:
    """Seed ``random``, numpy and torch (all devices). Sets no cuDNN flags, like Dassl."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def collect_env_info() -> str:
    """Describe the software environment for the log (torch's report + Pillow)."""
    import PIL

    try:
        from torch.utils.collect_env import get_pretty_env_info

        info = get_pretty_env_info()
    except Exception as error:  # the report shells out; never let it stop a run
        info = f"PyTorch version: {torch.__version__}\n(collect_env failed: {error})"
    return info + f"\n        Pillow ({PIL.__version__})"


def check_availability(requested: str, available: Sequence[str]) -> None:
    """Raise a one-line ``ValueError`` when ``requested`` is not in ``available``."""
    if requested not in available:
        close = difflib.get_close_matches(requested, list(available), n=1, cutoff=0.0)
        hint = f" (do you mean [{close[0]}]?)" if close else ""
        raise ValueError(f"The requested one is expected to belong to {list(available)}, but got [{requested}]{hint}")


def tolist_if_not(x: Any) -> list:
    """Wrap a non-list in a list."""
    return x if isinstance(x, list) else [x]
