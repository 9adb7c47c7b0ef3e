"""Class-name normalisation, used everywhere a class name is read or matched.

Dataset folders, annotation files and hierarchy files spell the same class in
different ways (``aquarium_fish``, ``aquarium-fish``, ``aquarium  fish``).
Every module compares and prompts with the normalised form, so one function
decides what "the same name" means.
"""
from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[_\-]+")
_WHITESPACE = re.compile(r"\s+")


def normalize_classname(name: str) -> str:
    """Return ``name`` with ``_`` and ``-`` turned into spaces and whitespace collapsed.

    Case is kept (``Boeing 737`` stays as it is), and leading/trailing
    whitespace is stripped. ``normalize_classname("aquarium_fish") == "aquarium fish"``.
    """
    return _WHITESPACE.sub(" ", _SEPARATORS.sub(" ", name)).strip()


#: How a class name is written into a text prompt (``TRAINER.<NAME>.NAME_STYLE``).
#: ``official``: as written, only ``_`` replaced by a space, which is what CoOp, CoCoOp, MaPLe,
#: KgCoOp, PromptSRC, zero-shot CLIP and HGCLIP's official code do ("707-320" keeps its hyphen);
#: ``normalized``: :func:`normalize_classname`, the form nodes are identified by ("707 320").
NAME_STYLES = ("official", "normalized")


def official_prompt_name(name: str) -> str:
    """The official prompt-learning codes' class name in a prompt: ``name`` with each ``_`` made a space."""
    return name.replace("_", " ")


def check_name_style(style: str, key: str) -> str:
    """Return ``style`` if it is one of :data:`NAME_STYLES`; otherwise one line naming the config ``key``."""
    if style not in NAME_STYLES:
        from ..common.errors import InputError

        raise InputError(f"{key} is {style!r}: expected official (the name as written, only '_' -> space, "
                         "as the official codes) or normalized ('_' and '-' -> space)")
    return style


def configured_prompt_names(hierarchy, style: str, key: str) -> list[str]:
    """``hierarchy.prompt_names(style)`` after checking ``style``, the value of config ``key``."""
    return hierarchy.prompt_names(check_name_style(style, key))
