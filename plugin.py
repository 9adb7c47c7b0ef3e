"""Use HGCLIP inside an existing CoOp, MaPLe or PromptSRC checkout (one import, one call).

In the checkout's ``train.py``, next to its ``import trainers.coop`` lines::

    import hgclip.plugin

and at the end of its ``extend_cfg(cfg)``::

    hgclip.plugin.extend_cfg(cfg)

Then ``python train.py --trainer HGCLIP ...`` runs there, beside the checkout's own trainers.
Importing this module registers, under names that cannot collide with the checkout's:

* trainers: ``HGCLIP`` and the hierarchical baselines ``HierCoOp``, ``HierCoCoOp``, ``HierVPT``,
  ``HierMaPLe``, ``HierKgCoOp``, ``HierPromptSRC``, ``HierIVLP``, ``HierZeroshotCLIP``;
* datasets: ``HierShapes``, ``HierImageFolder`` and ``Hier<Name>`` for this project's readers
  (``HierCIFAR100``, ``HierFGVCAircraft``, ``HierETHEC``, ...); the checkout's own datasets keep
  their names and get their hierarchy by class name (:mod:`hgclip.datasets.attach`);
* the ``Hierarchical`` evaluator (every trainer of this project uses it; the checkout's keep theirs).

``extend_cfg`` adds only the keys the checkout's config lacks: the baselines read the
checkout's ``TRAINER.COOP``, ``TRAINER.MAPLE``, ... nodes, plus what they need in addition.
"""
from __future__ import annotations

from typing import Any

from . import (
    datasets,  # noqa: F401  (registers the datasets under their plugin names)
    evaluation,  # noqa: F401  (registers the Hierarchical evaluator)
    trainers,  # noqa: F401  (registers HGCLIP and the Hier* baselines)
)
from .config import extend_cfg as _extend_cfg

__all__ = ["extend_cfg"]


def extend_cfg(cfg: Any) -> Any:
    """Add this project's config keys that ``cfg`` lacks (``cfg`` must not be frozen); return ``cfg``."""
    return _extend_cfg(cfg, keep_existing=True)
