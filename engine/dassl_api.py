"""The one import point for the Dassl API: the real ``dassl`` if wanted/available, else the built-in engine.

Choose with the environment variable ``HGCLIP_ENGINE``:
  auto     (default) the real Dassl when it imports and passes a self-check, else the built-in engine;
  dassl    the real Dassl, or an ImportError saying how to install it;
  builtin  always ``hgclip.engine.builtin``.
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
* ``TrainerBase.load_model`` crashes when a checkpoint's ``val_result`` is ``None``
  (every checkpoint not saved by best-val selection): the exported ``TrainerX`` fixes it;
* Dassl's default ``Classification`` evaluator is flat: every trainer of this project
  uses the shared ``Hierarchical`` evaluator itself, whatever ``TEST.EVALUATOR`` says.
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
    "Registry", "TRAINER_REGISTRY", "build_trainer", "TrainerBase", "SimpleTrainer", "TrainerX",
    "DATASET_REGISTRY", "build_dataset", "DatasetBase", "Datum",
    "DataManager", "DatasetWrapper", "build_data_loader", "build_transform",
    "EVALUATOR_REGISTRY", "EvaluatorBase", "build_evaluator",
    "build_optimizer", "build_lr_scheduler",
    "set_random_seed", "setup_logger", "collect_env_info", "mkdir_if_missing", "read_image",
    "listdir_nohidden", "check_isfile",
    "save_checkpoint", "load_checkpoint", "load_pretrained_weights", "count_num_param",
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
        placeholder.__doc__ = "placeholder inserted by hgclip.engine.dassl_api: the wilds package is not installed"

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


def _fixed_trainer_x(dassl_trainer_x: type) -> type:
    from dassl.utils import load_checkpoint

    class TrainerX(dassl_trainer_x):
        """Dassl's ``TrainerX`` whose ``load_model`` accepts checkpoints without a ``val_result``."""

        def load_model(self, directory: str, epoch: Any = None) -> None:
            if not directory:
                print("Note that load_model() is skipped as no pretrained model is given")
                return
            model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
            for name in self.get_model_names():
                path = os.path.join(directory, name, model_file)
                if not os.path.exists(path):
                    raise FileNotFoundError(f"No model at {path}")
                checkpoint = load_checkpoint(path)
                val_result = checkpoint.get("val_result")
                shown = "" if val_result is None else f", val_result={val_result:.1f}"
                print(f"Load {path} to {name} (epoch={checkpoint['epoch']}{shown})")
                self._models[name].load_state_dict(checkpoint["state_dict"])

    TrainerX.__module__ = __name__
    return TrainerX


def _real_dassl_names() -> dict:
    """The export list from an installed Dassl, with the workarounds applied (raises ImportError if unusable)."""
    with _dassl_import_guard():
        from yacs.config import CfgNode
        from dassl.config import get_cfg_default
        from dassl.data import DataManager, DatasetWrapper
        from dassl.data.data_manager import build_data_loader
        from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
        from dassl.data.transforms import build_transform
        from dassl.engine import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, build_trainer
        from dassl.engine import TrainerX as DasslTrainerX
        from dassl.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator
        from dassl.optim import build_optimizer
        from dassl.optim import build_lr_scheduler as dassl_build_lr_scheduler
        from dassl.utils import (AverageMeter, MetricMeter, Registry, check_isfile, collect_env_info,
                                 count_num_param, listdir_nohidden, load_checkpoint, load_pretrained_weights,
                                 mkdir_if_missing, read_image, save_checkpoint, set_random_seed, setup_logger)
    names = {key: value for key, value in locals().items() if key not in ("DasslTrainerX", "dassl_build_lr_scheduler")}
    names["TrainerX"] = _fixed_trainer_x(DasslTrainerX)
    names["build_lr_scheduler"] = _warmup_safe(dassl_build_lr_scheduler)
    return names


def _self_check(names: dict) -> None:
    """Build what every run builds first (defaults, an optimizer, a warm-up scheduler); raise if it fails."""
    import torch

    cfg = names["get_cfg_default"]()
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = names["build_optimizer"]([parameter], cfg.OPTIM)
    names["build_lr_scheduler"](optimizer, cfg.OPTIM).step()


def _builtin_names() -> dict:
    from .builtin.config import CfgNode, get_cfg_default
    from .builtin.data import (DATASET_REGISTRY, DataManager, DatasetBase, DatasetWrapper, Datum,
                                       build_data_loader, build_dataset, build_transform)
    from .builtin.engine import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, TrainerX, build_trainer
    from .builtin.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator
    from .builtin.optim import build_lr_scheduler, build_optimizer
    from .builtin.utils import (AverageMeter, MetricMeter, Registry, check_isfile, collect_env_info,
                                        count_num_param, listdir_nohidden, load_checkpoint,
                                        load_pretrained_weights, mkdir_if_missing, read_image, save_checkpoint,
                                        set_random_seed, setup_logger)
    return dict(locals())


def _describe(real: bool) -> str:
    if not real:
        from . import builtin as minidassl

        return f"built-in engine (hgclip.engine.builtin, Dassl {minidassl.DASSL_API_VERSION} API)"
    import dassl

    return f"Dassl.pytorch {getattr(dassl, '__version__', '?')} ({os.path.dirname(dassl.__file__)})"


def _select() -> tuple[bool, dict]:
    choice = _engine_choice()
    if choice == "builtin":
        return False, _builtin_names()
    if choice == "dassl":
        if importlib.util.find_spec("dassl") is None:
            raise ImportError(f"HGCLIP_ENGINE=dassl but the 'dassl' package is not installed. {_INSTALL_HINT}")
        return True, _real_dassl_names()
    if importlib.util.find_spec("dassl") is None:
        return False, _builtin_names()
    try:
        names = _real_dassl_names()
        _self_check(names)
        return True, names
    except Exception as error:  # installed but unusable here: never pick an engine that then fails
        warnings.warn(f"dassl is installed but unusable ({type(error).__name__}: {error}); using the built-in "
                      "engine (set HGCLIP_ENGINE=dassl to make this an error)")
        return False, _builtin_names()


USING_REAL_DASSL, _names = _select()
globals().update(_names)
del _names
ENGINE_DESCRIPTION = _describe(USING_REAL_DASSL)
_announced = False


def announce_engine() -> None:
    """Print which engine runs this process, once."""
    global _announced
    if not _announced:
        print(f"Engine: {ENGINE_DESCRIPTION}")
        _announced = True
