"""Where the project's data folders are: beside the code, in a checkout and once installed alike."""
from __future__ import annotations

import os

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository root = package ``hgclip``


def config_dir() -> str:
    """The ``configs/`` folder (dataset, trainer and template configs, ``official_mode.yaml``)."""
    return os.path.join(PACKAGE_ROOT, "configs")


def cache_dir() -> str:
    """The project's cache folder outside the repository: ``$HGCLIP_CACHE``, default ``~/.cache/hgclip`` (the tiny
    CLIP's pre-trained weights, the digests of CLIP weight files)."""
    return os.path.abspath(os.path.expanduser(os.environ.get("HGCLIP_CACHE") or "~/.cache/hgclip"))
