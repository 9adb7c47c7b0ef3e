"""HGCLIP for Dassl: hierarchical prompt learning with CLIP.

Everything installs under this one import name, so nothing collides with a
CoOp/MaPLe/PromptSRC checkout's own ``trainers``, ``datasets`` or vendored ``clip``:

* ``hgclip.dassl_compat``  the one import point for Dassl's API (real Dassl or the built-in engine);
* ``hgclip.config``        every config key the project adds (``extend_cfg``);
* ``hgclip.registry``      the registered trainers (``list_trainers``) and how they are registered;
* ``hgclip.fileio``        atomic writes shared by both engines;
* ``hgclip.hierarchy``, ``hgclip.datasets``, ``hgclip.backbones``, ``hgclip.models``,
  ``hgclip.trainers``, ``hgclip.evaluation``, ``hgclip.embedded``, ``hgclip.minidassl``:
  the folders of the same names at the repository root (``setup.py`` maps them here, so the
  repository keeps CoOp's ``trainers/ datasets/ configs/ scripts/`` layout).

From a source checkout that has not been installed, the same mapping is made below, so
``python train.py`` works from the repository root either way.
"""
from __future__ import annotations

import os as _os

__version__ = "0.2.0"

_REPO_ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
_SUBPACKAGES = ("hierarchy", "datasets", "backbones", "models", "trainers", "evaluation", "embedded", "minidassl")


def _is_source_checkout(root: str) -> bool:
    """True when ``root`` is this repository (not, say, a site-packages that happens to hold a ``trainers``)."""
    markers = ("setup.py", "train.py", _os.path.join("trainers", "hgclip.py"), _os.path.join("hgclip", "__init__.py"))
    return all(_os.path.isfile(_os.path.join(root, marker)) for marker in markers)


if _is_source_checkout(_REPO_ROOT) and not all(
    _os.path.isdir(_os.path.join(_os.path.dirname(__file__), name)) for name in _SUBPACKAGES
):
    __path__.append(_REPO_ROOT)  # noqa: F821  (hgclip.trainers -> <repo>/trainers, ...)
