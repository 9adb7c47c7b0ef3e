"""Where the project's data folders are: beside the code, in a checkout and once installed alike."""
from __future__ import annotations

import os

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository root = package ``hgclip``


def config_dir() -> str:
    """The ``configs/`` folder (dataset, trainer and template configs, ``official_mode.yaml``)."""
    return os.path.join(PACKAGE_ROOT, "configs")
