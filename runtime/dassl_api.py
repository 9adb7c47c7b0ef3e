"""The one import point for the Dassl API: the real ``dassl`` if wanted/available, else the built-in engine.

Choose with the environment variable ``HGCLIP_ENGINE``:
  auto     (default) the real Dassl when it imports and passes a self-check, else the built-in engine;
  dassl    the real Dassl, or an ImportError saying how to install it;
  builtin  always ``hgclip.runtime.builtin``.
``USING_REAL_DASSL`` tells which one was picked; :func:`announce_engine` prints it (once).

Dassl 0.6.3 (its last release, 2022) has defects on current torch and Python packaging.
They are worked around here, without touching Dassl's files:

* its warm-up schedulers pass ``verbose`` positionally to torch's ``LRScheduler``, which
  current torch rejects: when that is the case, Dassl's main scheduler (step, multi-step
  or cosine) is wrapped in the built-in engine's warm-up scheduler, which has Dassl's step
  semantics (the same learning rate every epoch);
* ``import dassl.data`` imports its WILDS datasets, which import the ``wilds`` package
  (a heavy, pinned dependency): without it, a placeholder ``wilds`` is given for the
  import, so only Dassl's WILDS datasets fail, with a message saying what to install;
  and the process-wide ``logging.disable(logging.WARNING)`` those modules run is undone;
* Dassl's default ``Classification`` evaluator is flat: every trainer of this project
  uses the shared ``Hierarchical`` evaluator itself, whatever ``TEST.EVALUATOR`` says.

Only the names this project's code uses are exported, and each is bound explicitly below
(one import block per engine). The trainers do not subclass Dassl's: they own their life
cycle (:mod:`hgclip.engine.trainer`) and are registered into the active ``TRAINER_REGISTRY``,
so Dassl's ``train.py`` drives them as its own.
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import logging
import os
import sys
import types
import warnings
from typing import Any, Iterator

__all__ = [
    "USING_REAL_DASSL", "ENGINE_DESCRIPTION", "announce_engine",
    "CfgNode", "get_cfg_default",
    "TRAINER_REGISTRY", "build_trainer",
    "DATASET_REGISTRY", "build_dataset", "DatasetBase", "Datum", "DatasetWrapper", "build_transform",
    "EVALUATOR_REGISTRY", "EvaluatorBase", "build_evaluator",
    "build_optimizer", "build_lr_scheduler",
    "set_random_seed", "setup_logger", "collect_env_info",
    "AverageMeter", "MetricMeter",
]

_CHOICES = ("auto", "dassl", "builtin")
_MISSING = object()
_INSTALL_HINT = ("Dassl.pytorch is not on PyPI: git clone https://github.com/KaiyangZhou/Dassl.pytorch, "
                 "then in it: pip install gdown scikit-learn && python setup.py develop; or set HGCLIP_ENGINE=builtin")


def _engine_choice() -> str:
    choice = os.environ.get("HGCLIP_ENGINE", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise ValueError(f"HGCLIP_ENGINE={choice!r} is not one of {list(_CHOICES)}")
    return choice


# ---------------------------------------------------------------------- real Dassl
@contextlib.contextmanager
def _dassl_import_guard() -> Iterator[None]:
    """Let ``import dassl.data`` succeed without ``wilds`` and keep the logging level it would change."""
    placeholder, previous = None, sys.modules.get("wilds", _MISSING)
    try:
        import wilds  # noqa: F401
    except ImportError:
        placeholder = types.ModuleType("wilds")
        placeholder.__doc__ = "placeholder inserted by hgclip.runtime.dassl_api: the wilds package is not installed"

        def get_dataset(*args: Any, **kwargs: Any) -> Any:
            raise ImportError("Dassl's WILDS datasets need the wilds package: pip install wilds")

        placeholder.get_dataset = get_dataset
        sys.modules["wilds"] = placeholder
    disabled = logging.root.manager.disable
    try:
        yield
    finally:
        logging.disable(disabled)
        if placeholder is not None and sys.modules.get("wilds") is placeholder:
            if previous is _MISSING:
                del sys.modules["wilds"]
            else:
                sys.modules["wilds"] = previous


def _torch_scheduler_takes_verbose() -> bool:
    from torch.optim.lr_scheduler import LRScheduler

    return "verbose" in inspect.signature(LRScheduler.__init__).parameters


def _warmup_safe(dassl_build_lr_scheduler: Any) -> Any:
    """Dassl's ``build_lr_scheduler``, with the built-in warm-up wrapper when Dassl's cannot be built."""
    if _torch_scheduler_takes_verbose():
        return dassl_build_lr_scheduler

    def build_lr_scheduler(optimizer: Any, optim_cfg: Any) -> Any:
        if optim_cfg.WARMUP_EPOCH <= 0:
            return dassl_build_lr_scheduler(optimizer, optim_cfg)
        from .builtin.optim.lr_scheduler import wrap_in_warmup

        main_cfg = optim_cfg.clone()
        main_cfg.defrost()
        main_cfg.WARMUP_EPOCH = 0
        return wrap_in_warmup(optimizer, dassl_build_lr_scheduler(optimizer, main_cfg), optim_cfg)

    build_lr_scheduler.__doc__ = dassl_build_lr_scheduler.__doc__
    return build_lr_scheduler


def patch_dassl_warmup_schedulers() -> bool:
    """Make Dassl's own warm-up schedulers work on current torch, for code that calls Dassl's
    ``build_lr_scheduler`` itself (a CoOp/MaPLe checkout's trainers): opt-in, process-wide.

    Dassl's ``_BaseWarmupScheduler.__init__`` passes ``verbose`` positionally to torch's ``LRScheduler``,
    which torch >= 2.4 no longer takes (``TypeError ... 4 were given``). The replacement ``__init__`` does
    what Dassl's does, without ``verbose``; the schedules are Dassl's, unchanged. This project's trainers
    do not need it (their scheduler is built through :func:`_warmup_safe`). Returns True when Dassl's class
    has the replacement, False when the installed torch still takes ``verbose`` (nothing to fix).
    """
    if _torch_scheduler_takes_verbose():
        return False
    if importlib.util.find_spec("dassl") is None:
        raise ImportError(f"patch_dassl_warmup_schedulers: the 'dassl' package is not installed. {_INSTALL_HINT}")
    with _dassl_import_guard():
        lr_scheduler = importlib.import_module("dassl.optim.lr_scheduler")
    base = lr_scheduler._BaseWarmupScheduler
    if getattr(base.__init__, "hgclip_patched", False):
        return True
    from torch.optim.lr_scheduler import LRScheduler

    def __init__(self: Any, optimizer: Any, successor: Any, warmup_epoch: int, last_epoch: int = -1,
                 verbose: bool = False) -> None:
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        LRScheduler.__init__(self, optimizer, last_epoch)  # Dassl passes verbose here too

    __init__.hgclip_patched = True  # type: ignore[attr-defined]
    base.__init__ = __init__
    return True


def _self_check() -> None:
    """Import the real Dassl and build what every run builds first (defaults, an optimizer, a warm-up
    scheduler); raise if anything fails."""
    import torch

    with _dassl_import_guard():
        import dassl.data.datasets  # noqa: F401  (every module the exports below come from)
        import dassl.data.transforms  # noqa: F401
        import dassl.engine  # noqa: F401
        import dassl.evaluation  # noqa: F401
        import dassl.utils  # noqa: F401
        from dassl.config import get_cfg_default as dassl_cfg_default
        from dassl.optim import build_lr_scheduler as dassl_build_lr_scheduler
        from dassl.optim import build_optimizer as dassl_build_optimizer
    cfg = dassl_cfg_default()
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = dassl_build_optimizer([parameter], cfg.OPTIM)
    _warmup_safe(dassl_build_lr_scheduler)(optimizer, cfg.OPTIM).step()


def _describe(real: bool) -> str:
    if not real:
        from . import builtin

        return f"built-in engine (hgclip.runtime.builtin, Dassl {builtin.DASSL_API_VERSION} API)"
    import dassl

    return f"Dassl.pytorch {getattr(dassl, '__version__', '?')} ({os.path.dirname(dassl.__file__)})"


def _select() -> bool:
    """True for the real Dassl (see the module docstring), False for the built-in engine."""
    choice = _engine_choice()
    if choice == "builtin":
        return False
    if choice == "dassl":
        if importlib.util.find_spec("dassl") is None:
            raise ImportError(f"HGCLIP_ENGINE=dassl but the 'dassl' package is not installed. {_INSTALL_HINT}")
        return True
    if importlib.util.find_spec("dassl") is None:
        return False
    try:
        _self_check()
        return True
    except Exception as error:  # installed but unusable here: never pick an engine that then fails
        warnings.warn(f"dassl is installed but unusable ({type(error).__name__}: {error}); using the built-in "
                      "engine (set HGCLIP_ENGINE=dassl to make this an error)")
        return False


USING_REAL_DASSL = _select()
if USING_REAL_DASSL:
    with _dassl_import_guard():
        from dassl.config import get_cfg_default
        from dassl.data import DatasetWrapper
        from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
        from dassl.data.transforms import build_transform
        from dassl.engine import TRAINER_REGISTRY, build_trainer
        from dassl.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator
        from dassl.optim import build_lr_scheduler as _dassl_build_lr_scheduler
        from dassl.optim import build_optimizer
        from dassl.utils import AverageMeter, MetricMeter, collect_env_info, set_random_seed, setup_logger
        from yacs.config import CfgNode
    build_lr_scheduler = _warmup_safe(_dassl_build_lr_scheduler)
else:
    from .builtin.config import CfgNode, get_cfg_default
    from .builtin.data import DATASET_REGISTRY, DatasetBase, DatasetWrapper, Datum, build_dataset, build_transform
    from .builtin.engine import TRAINER_REGISTRY, build_trainer
    from .builtin.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator
    from .builtin.optim import build_lr_scheduler, build_optimizer
    from .builtin.utils import AverageMeter, MetricMeter, collect_env_info, set_random_seed, setup_logger

ENGINE_DESCRIPTION = _describe(USING_REAL_DASSL)
_announced = False


def announce_engine() -> None:
    """Print which engine runs this process, once."""
    global _announced
    if not _announced:
        print(f"Engine: {ENGINE_DESCRIPTION}")
        _announced = True
