"""This repository as one unit: its trainers, datasets and evaluator registered, and its full config.

Importing a trainer or dataset module registers it under its plugin name (``HierCoOp``,
``HierFGVCAircraft``, ...), which is all a CoOp/MaPLe checkout gets (:mod:`hgclip.plugin`). This
repository's own command-line tools, benchmarks and tests also want the table names (``CoOp``,
``FGVCAircraft``, ...) and the config with every shipped trainer's section: importing this module
gives both, from the top of the import graph (nothing below imports it).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

from yacs.config import CfgNode as CN

from . import datasets, evaluation, trainers  # noqa: F401  (importing them registers them)
from .common.config_io import flatten
from .config import declared_keys, extend_cfg
from .registry import register_table_names, trainer_sections
from .runtime.dassl_api import get_cfg_default

register_table_names()


def get_cfg() -> CN:
    """Dassl's defaults plus this project's keys (a fresh, unfrozen copy)."""
    return extend_cfg(get_cfg_default())


class ConfigKey(NamedTuple):
    """One config key this project adds (or whose default it changes), as the documentation lists it."""

    key: str  # e.g. "TRAINER.HGCLIP.LAMBDA_ATTN"
    default: Any
    declared_by: str  # "" for a shared key; else the class name of the trainer whose config_section() declares it
    shipped: bool  # a shared key, or one declared by a trainer of this package (not a user's --trainer-module)
    help: str  # its declaration's help text ("" for a trainer section declared as a plain CfgNode)


def config_keys(base: Optional[CN] = None) -> list[ConfigKey]:
    """Every key :func:`~hgclip.config.extend_cfg` adds to ``base`` (default: Dassl's defaults) or changes, in order.

    ``declared_by`` names the trainer of a ``TRAINER.<CFG_KEY>`` key, so the documentation can be
    checked for the shipped keys only (``shipped``).
    """
    base = get_cfg_default() if base is None else base
    before = flatten(base)
    owners = {f"TRAINER.{section.key}": section.trainer for section in trainer_sections()}
    helps = {declared.name: declared.help for declared in declared_keys()}
    keys = []
    for key, value in flatten(extend_cfg(base.clone())).items():
        if key in before and before[key] == value:
            continue
        owner = owners.get(".".join(key.split(".")[:2])) if key.startswith("TRAINER.") else None
        shipped = owner is None or owner.__module__.startswith(f"{__package__}.trainers.")
        keys.append(ConfigKey(key, value, owner.__name__ if owner else "", shipped, helps.get(key, "")))
    return keys
