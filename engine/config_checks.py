"""Values of a built config that would run but give a meaningless result, refused in one line before a run.

It sits above the evaluation and the models because it asks them what they accept (the decodings,
ProTeCt's settings); the key declarations themselves are in :mod:`hgclip.config`. A trainer checks its
own section's values in a classmethod ``check_config_values(cfg)`` (raising ``InputError``), which
:func:`check_values` calls for the run's trainer: the check lives with the keys it knows.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Optional

from ..common.config_io import flatten
from ..common.errors import InputError
from ..evaluation.decoding import DECODINGS
from ..models.protect import ProTeCtSettings
from ..runtime import distributed as dist
from ..runtime.dassl_api import TRAINER_REGISTRY

#: keys of a trainer's section that count prompt tokens or prompted layers (CoOp's N_CTX, IVLP's N_CTX_VISION,
#: MaPLe's PROMPT_DEPTH, ...): a negative one slices the prompts from the end and runs without a word
PROMPT_SIZE_PREFIXES = ("N_CTX", "PROMPT_DEPTH")


def check_values(cfg: Any, training: bool) -> None:
    """Refuse values that would run but give a meaningless result (one line naming the key).

    ``training``: the run will train (not ``--eval-only``/``--no-train``, and the trainer has parameters).
    """
    for key, value in flatten(cfg).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{key} is {value}: expected a finite number")
    shots = int(cfg.DATASET.NUM_SHOTS)
    if shots == 0 or shots < -1:
        raise InputError(f"DATASET.NUM_SHOTS is {shots}: expected a number of images per class >= 1, "
                         "or -1 for the whole training split")
    for key in ("DATALOADER.TRAIN_X.BATCH_SIZE", "DATALOADER.TEST.BATCH_SIZE"):
        if int(flatten(cfg)[key]) <= 0:
            raise InputError(f"{key} is {flatten(cfg)[key]}: expected a batch size >= 1")
    decodings = tuple(DECODINGS)
    if cfg.TEST.DECODING not in decodings:
        raise InputError(f"TEST.DECODING is {cfg.TEST.DECODING!r}: expected one of {', '.join(decodings)}")
    try:
        ProTeCtSettings.from_cfg(cfg.LOSS.PROTECT)
    except ValueError as error:
        raise InputError(str(error)) from None
    check_trainer_values(cfg)
    if training:
        if int(cfg.OPTIM.MAX_EPOCH) < 1:
            raise InputError(f"OPTIM.MAX_EPOCH is {cfg.OPTIM.MAX_EPOCH}: expected at least 1 epoch to train "
                             "(evaluate a model with --eval-only --model-dir instead)")
        if not float(cfg.OPTIM.LR) > 0:
            raise InputError(f"OPTIM.LR is {cfg.OPTIM.LR}: expected a learning rate > 0")
        warn_if_all_warmup(cfg)


def _trainer_class(name: str) -> Optional[type]:
    return TRAINER_REGISTRY.get(name) if name in TRAINER_REGISTRY.registered_names() else None


def check_trainer_values(cfg: Any) -> None:
    """The run's ``TRAINER.<KEY>`` section: no negative prompt length or depth, then the trainer's own checks."""
    trainer = _trainer_class(str(cfg.TRAINER.NAME))
    key = getattr(trainer, "CFG_KEY", "") or str(cfg.TRAINER.NAME).upper()
    section = cfg.TRAINER.get(key) if hasattr(cfg.TRAINER, "get") else None
    if isinstance(section, dict):
        for name, value in flatten(section).items():
            if name.rsplit(".", 1)[-1].startswith(PROMPT_SIZE_PREFIXES) and isinstance(value, int) and value < 0:
                raise InputError(f"TRAINER.{key}.{name} is {value}: expected a number of prompt tokens or "
                                 "prompted layers >= 0")
    check = getattr(trainer, "check_config_values", None)
    if callable(check):
        check(cfg)


def warn_if_all_warmup(cfg: Any) -> None:
    """One line on stderr (rank 0) when warm-up lasts the whole run: ``OPTIM.LR``'s schedule is never reached.

    A warning, not a refusal: a one-epoch smoke run of a config with one warm-up epoch is a common, deliberate
    check that the run goes through end to end.
    """
    warmup, epochs = int(cfg.OPTIM.WARMUP_EPOCH), int(cfg.OPTIM.MAX_EPOCH)
    if 0 < epochs <= warmup and dist.is_main():
        rate = (f"constant lr {cfg.OPTIM.WARMUP_CONS_LR}" if cfg.OPTIM.WARMUP_TYPE == "constant"
                else f"{cfg.OPTIM.WARMUP_TYPE} from lr {cfg.OPTIM.WARMUP_MIN_LR}")
        print(f"warning: OPTIM.WARMUP_EPOCH {warmup} >= OPTIM.MAX_EPOCH {epochs}: the whole run is warm-up ({rate}) "
              f"and never reaches OPTIM.LR {cfg.OPTIM.LR}'s schedule; set OPTIM.WARMUP_EPOCH below OPTIM.MAX_EPOCH "
              "(0: no warm-up)", file=sys.stderr, flush=True)
