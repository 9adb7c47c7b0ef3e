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

``patch_dassl_warmup()`` (opt-in) lets the checkout's own trainers build Dassl's warm-up schedulers on
current torch; this project's trainers work without it.
"""
from __future__ import annotations

from typing import Any

from . import (
    datasets,  # noqa: F401  (registers the datasets under their plugin names)
    evaluation,  # noqa: F401  (registers the Hierarchical evaluator)
    trainers,  # noqa: F401  (registers HGCLIP and the Hier* baselines)
)
from .config import extend_cfg as _extend_cfg
from .runtime.dassl_api import patch_dassl_warmup_schedulers

__all__ = ["extend_cfg", "patch_dassl_warmup"]


def extend_cfg(cfg: Any) -> Any:
    """Add this project's config keys that ``cfg`` lacks (``cfg`` must not be frozen); return ``cfg``."""
    return _extend_cfg(cfg, keep_existing=True)


def patch_dassl_warmup() -> bool:
    """Opt-in fix for the checkout's own trainers (CoOp, MaPLe, ...), which call Dassl's ``build_lr_scheduler``:
    Dassl's warm-up schedulers pass ``verbose`` positionally to torch's ``LRScheduler``, which current torch
    rejects, so every config with ``OPTIM.WARMUP_EPOCH > 0`` fails when the scheduler is built. Call once,
    before the trainer is built (e.g. right after ``import hgclip.plugin``). Dassl's warm-up class gets an
    ``__init__`` without ``verbose``; its schedules are unchanged. True when patched, False when the
    installed torch needs no fix; ImportError without Dassl."""
    return patch_dassl_warmup_schedulers()
