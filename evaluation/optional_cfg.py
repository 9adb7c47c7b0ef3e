"""Reading config keys that a bare Dassl config may lack: the evaluator must work without the project's keys."""
from __future__ import annotations

from typing import Any, Optional

from ..config import read_key

__all__ = ["cfg_get", "int_key"]


def cfg_get(cfg: Any, dotted: str, default: Any = None) -> Any:
    """``cfg.A.B`` or ``default`` when any part is missing.

    For Dassl's keys whose absence means "not recorded" (``SEED``, ``OUTPUT_DIR``, ...); a key this
    project declares is read with :func:`hgclip.config.read_key`, which knows its default.
    """
    node = cfg
    for part in dotted.split("."):
        if node is None or not hasattr(node, part):
            return default
        node = getattr(node, part)
    return node


def int_key(cfg: Any, dotted: str, minimum: Optional[int] = None) -> int:
    """An integer config key (:func:`~hgclip.config.read_key`: its declared value when absent), with a one-line
    error when it is not one."""
    value = read_key(cfg, dotted)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{dotted}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{dotted}: expected an integer >= {minimum}, got {value}")
    return value
