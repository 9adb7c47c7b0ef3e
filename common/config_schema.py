"""Config keys declared as data: each key's dotted name, default and help text in one :class:`Key`.

A yacs ``CfgNode`` holds values only. Declaring a key as a :class:`Key` keeps its help text (what
``docs/reference/config.md`` is rendered from) and the value code falls back to when a config lacks
it next to its default; :func:`build` turns declarations into the nodes yacs merges into.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping, NamedTuple, Optional

from yacs.config import CfgNode as CN

from .config_io import flatten

__all__ = ["Key", "SAME_AS_DEFAULT", "build", "prefixed", "undocumented"]


class _SameAsDefault:
    def __repr__(self) -> str:
        return "SAME_AS_DEFAULT"


#: ``Key.if_absent`` of a key whose absence means its default (every key but a few of the evaluator's).
SAME_AS_DEFAULT: Any = _SameAsDefault()


class Key(NamedTuple):
    """One config key: ``name`` is dotted, relative to the node it is declared in (``TREE_CUTS.NUM``)."""

    name: str
    default: Any
    help: str
    #: what code reading a config that lacks the key (a bare Dassl config) uses, when not the default
    if_absent: Any = SAME_AS_DEFAULT

    def value_if_absent(self) -> Any:
        """The value a config without this key stands for (a fresh copy: defaults may be lists)."""
        return copy.deepcopy(self.default if self.if_absent is SAME_AS_DEFAULT else self.if_absent)


def prefixed(prefix: str, keys: Iterable[Key]) -> tuple[Key, ...]:
    """``keys`` declared under the node ``prefix`` (``TRAINER.COOP`` + ``N_CTX`` -> ``TRAINER.COOP.N_CTX``)."""
    return tuple(key._replace(name=f"{prefix}.{key.name}") for key in keys)


def build(keys: Iterable[Key], node: Optional[CN] = None) -> CN:
    """Set every key's default in ``node`` (a new node when ``None``), adding the sub-nodes it lacks; return it.

    Keys are set in declaration order, so the node's order is the declarations' order.
    """
    node = CN() if node is None else node
    for key in keys:
        *parents, leaf = key.name.split(".")
        target = node
        for part in parents:
            if part not in target:
                target[part] = CN()
            target = target[part]
        target[leaf] = copy.deepcopy(key.default)
    return node


def undocumented(node: Mapping[str, Any]) -> tuple[Key, ...]:
    """The keys of a plain node (a trainer section declared as a ``CfgNode``), without help text."""
    return tuple(Key(name, value, "") for name, value in flatten(node).items())
