"""The registered trainers (``hgclip.trainers``): each file holds one trainer, config -> model, loss, hooks.

Importing this package registers every trainer under its plugin name (``HGCLIP``,
``HierCoOp``, ...); ``hgclip.project`` (this repository's tools) adds the table names
(``CoOp``, ...) this repository's scripts use. The models live in :mod:`hgclip.models`.
"""
from ..engine.trainer import HierarchicalCLIPTrainer
from . import cocoop, coop, hgclip, ivlp, kgcoop, maple, promptsrc, vpt, zsclip  # noqa: F401  (registration)

__all__ = ["HierarchicalCLIPTrainer"]
