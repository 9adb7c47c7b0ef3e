"""Values of a built config that would run but give a meaningless result, refused in one line before a run.

It sits above the evaluation and the models because it asks them what they accept (the decodings,
ProTeCt's settings); the key declarations themselves are in :mod:`hgclip.config`.
"""
from __future__ import annotations

import math
from typing import Any

from ..common.config_io import flatten
from ..common.errors import InputError
from ..evaluation.decoding import DECODINGS
from ..models.protect import ProTeCtSettings


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
    if training:
        if int(cfg.OPTIM.MAX_EPOCH) < 1:
            raise InputError(f"OPTIM.MAX_EPOCH is {cfg.OPTIM.MAX_EPOCH}: expected at least 1 epoch to train "
                             "(evaluate a model with --eval-only --model-dir instead)")
        if not float(cfg.OPTIM.LR) > 0:
            raise InputError(f"OPTIM.LR is {cfg.OPTIM.LR}: expected a learning rate > 0")
