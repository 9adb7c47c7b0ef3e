"""The one import point for the Dassl API: the real ``dassl`` if wanted/available, else ``minidassl``.

Choose with the environment variable ``HGCLIP_ENGINE``:
  auto     (default) the real Dassl when ``import dassl`` finds it, else the builtin engine;
  dassl    the real Dassl, or an ImportError saying how to install it;
  builtin  always ``minidassl``.
``USING_REAL_DASSL`` tells which one was picked. Both provide the names in ``__all__``.
"""
from __future__ import annotations

import importlib.util
import os
import warnings

__all__ = [
    "USING_REAL_DASSL",
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
_INSTALL_HINT = ("Dassl.pytorch is not on PyPI: git clone https://github.com/KaiyangZhou/Dassl.pytorch, "
                 "pip install -r requirements.txt, python setup.py develop; or set HGCLIP_ENGINE=builtin")


def _engine_choice() -> str:
    choice = os.environ.get("HGCLIP_ENGINE", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise ValueError(f"HGCLIP_ENGINE={choice!r} is not one of {list(_CHOICES)}")
    return choice


def _real_dassl_names() -> dict:
    """Import the export list from an installed Dassl (raises ImportError if it is missing/broken)."""
    from yacs.config import CfgNode
    from dassl.config import get_cfg_default
    from dassl.data import DataManager, DatasetWrapper
    from dassl.data.data_manager import build_data_loader
    from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
    from dassl.data.transforms import build_transform
    from dassl.engine import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, TrainerX, build_trainer
    from dassl.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator
    from dassl.optim import build_lr_scheduler, build_optimizer
    from dassl.utils import (AverageMeter, MetricMeter, Registry, check_isfile, collect_env_info,
                             count_num_param, listdir_nohidden, load_checkpoint, load_pretrained_weights,
                             mkdir_if_missing, read_image, save_checkpoint, set_random_seed, setup_logger)
    return dict(locals())


def _builtin_names() -> dict:
    from hgclip.minidassl.config import CfgNode, get_cfg_default
    from hgclip.minidassl.data import (DATASET_REGISTRY, DataManager, DatasetBase, DatasetWrapper, Datum,
                                build_data_loader, build_dataset, build_transform)
    from hgclip.minidassl.engine import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, TrainerX, build_trainer
    from hgclip.minidassl.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator
    from hgclip.minidassl.optim import build_lr_scheduler, build_optimizer
    from hgclip.minidassl.utils import (AverageMeter, MetricMeter, Registry, check_isfile, collect_env_info,
                                 count_num_param, listdir_nohidden, load_checkpoint, load_pretrained_weights,
                                 mkdir_if_missing, read_image, save_checkpoint, set_random_seed, setup_logger)
    return dict(locals())


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
        return True, _real_dassl_names()
    except ImportError as error:  # installed but unusable (e.g. its eager 'wilds' import)
        warnings.warn(f"dassl is installed but failed to import ({error}); using the builtin engine "
                      "(set HGCLIP_ENGINE=dassl to make this an error)")
        return False, _builtin_names()


USING_REAL_DASSL, _names = _select()
globals().update(_names)
del _names
