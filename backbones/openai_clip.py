"""The installed openai-clip package, even where a checkout's vendored ``clip/`` shadows it.

CoOp, MaPLe and PromptSRC ship a modified copy of CLIP in a top-level ``clip/`` folder
(MaPLe's ``CLIP.__init__`` needs an extra ``design_details`` argument and its ``clip.load``
is broken). Run from such a checkout, ``import clip`` finds that copy first. Every module
of this project therefore takes CLIP from here: the package ``openai-clip`` installed,
unmodified, in site-packages. When ``import clip`` already resolves to it, that very module
is used; otherwise the installed package is loaded under a private name, leaving the
checkout's ``clip`` untouched for the checkout's own trainers.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from importlib import metadata
from types import ModuleType

__all__ = ["clip", "load_openai_clip"]

PRIVATE_NAME = "_hgclip_openai_clip"
INSTALL_HINT = "pip install openai-clip==1.0.1 'setuptools<81'"


def _installed_clip_dir() -> str:
    """The folder of the ``clip`` package that the ``openai-clip`` distribution installed."""
    try:
        distribution = metadata.distribution("openai-clip")
    except metadata.PackageNotFoundError:
        raise ImportError(f"the openai-clip package is not installed ({INSTALL_HINT})") from None
    for file in distribution.files or []:
        if str(file).replace("\\", "/") == "clip/__init__.py":
            return os.path.dirname(os.path.abspath(str(distribution.locate_file(file))))
    raise ImportError(f"the openai-clip distribution has no clip/__init__.py; reinstall it ({INSTALL_HINT})")


def _same_dir(origin: str | None, directory: str) -> bool:
    return bool(origin) and os.path.dirname(os.path.realpath(origin)) == os.path.realpath(directory)


def load_openai_clip() -> ModuleType:
    """The openai-clip module: ``import clip`` when that is it, else the installed copy under a private name."""
    directory = _installed_clip_dir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openai-clip imports pkg_resources, which warns on import
        spec = importlib.util.find_spec("clip")
        if spec is not None and _same_dir(spec.origin, directory):
            import clip as module

            return module
        if PRIVATE_NAME in sys.modules:
            return sys.modules[PRIVATE_NAME]
        private = importlib.util.spec_from_file_location(
            PRIVATE_NAME, os.path.join(directory, "__init__.py"), submodule_search_locations=[directory]
        )
        module = importlib.util.module_from_spec(private)
        sys.modules[PRIVATE_NAME] = module
        try:
            private.loader.exec_module(module)
        except BaseException:
            del sys.modules[PRIVATE_NAME]
            raise
        return module


clip = load_openai_clip()
