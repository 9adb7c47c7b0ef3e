"""Where the project's data folders are, in a source checkout and when installed."""
from __future__ import annotations

import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def config_dir() -> str:
    """The ``configs/`` folder: ``<repository>/configs`` in a checkout, ``hgclip/configs`` once installed."""
    installed = os.path.join(_PACKAGE_DIR, "configs")
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(_PACKAGE_DIR), "configs")
