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
