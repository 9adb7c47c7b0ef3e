"""build_lr_scheduler: step/multi-step/cosine, optionally behind a warm-up.

The warm-up schedulers follow Dassl's step semantics (so a config gives the
same per-epoch learning rates), but their ``state_dict`` holds the successor's
state_dict rather than the successor object: it never pickles the optimizer
and loads with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, MultiStepLR, StepLR
from yacs.config import CfgNode

AVAI_SCHEDS = ["single_step", "multi_step", "cosine"]


class _BaseWarmupScheduler(LRScheduler):
    """Run a warm-up rule for ``warmup_epoch`` steps, then hand every step to ``successor``."""

    def __init__(self, optimizer: torch.optim.Optimizer, successor: LRScheduler, warmup_epoch: int,
                 last_epoch: int = -1) -> None:
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super().__init__(optimizer, last_epoch)

    def warmup_lr(self) -> list[float]:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        if self.last_epoch >= self.warmup_epoch:
            return list(self.successor.get_last_lr())
        return self.warmup_lr()

    def step(self, epoch: Optional[int] = None) -> None:
        if self.last_epoch >= self.warmup_epoch:
            # warm-up is over: our own counter stops, the successor drives the LR
            if epoch is None:
                self.successor.step()
            else:
                self.successor.step(epoch)
            self._last_lr = list(self.successor.get_last_lr())
        else:
            super().step(epoch)

    def state_dict(self) -> dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        successor_state = state.pop("successor", None)
        if isinstance(successor_state, LRScheduler):  # a checkpoint written by Dassl itself
            successor_state = successor_state.state_dict()
            successor_state.pop("optimizer", None)
        self.__dict__.update(state)
        if successor_state is not None:
            self.successor.load_state_dict(successor_state)


class ConstantWarmupScheduler(_BaseWarmupScheduler):
    """Hold the LR at ``cons_lr`` during warm-up."""

    def __init__(self, optimizer: torch.optim.Optimizer, successor: LRScheduler, warmup_epoch: int,
                 cons_lr: float, last_epoch: int = -1) -> None:
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self) -> list[float]:
        return [self.cons_lr for _ in self.base_lrs]


class LinearWarmupScheduler(_BaseWarmupScheduler):
    """Raise the LR linearly from ``min_lr`` (step 0) towards the base LR."""

    def __init__(self, optimizer: torch.optim.Optimizer, successor: LRScheduler, warmup_epoch: int,
                 min_lr: float, last_epoch: int = -1) -> None:
        self.min_lr = min_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [self.min_lr for _ in self.base_lrs]
        return [lr * self.last_epoch / self.warmup_epoch for lr in self.base_lrs]


def _main_scheduler(optimizer: torch.optim.Optimizer, optim_cfg: CfgNode) -> LRScheduler:
    kind, stepsize, gamma = optim_cfg.LR_SCHEDULER, optim_cfg.STEPSIZE, optim_cfg.GAMMA
    if kind == "single_step":
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise TypeError(f"OPTIM.STEPSIZE must be an int for single_step, got {type(stepsize).__name__}")
        if stepsize <= 0:
            stepsize = optim_cfg.MAX_EPOCH
        return StepLR(optimizer, step_size=stepsize, gamma=gamma)
    if kind == "multi_step":
        if not isinstance(stepsize, (list, tuple)):
            raise TypeError(f"OPTIM.STEPSIZE must be a list for multi_step, got {type(stepsize).__name__}")
        return MultiStepLR(optimizer, milestones=list(stepsize), gamma=gamma)
    return CosineAnnealingLR(optimizer, T_max=float(optim_cfg.MAX_EPOCH))


def build_lr_scheduler(optimizer: torch.optim.Optimizer, optim_cfg: CfgNode) -> LRScheduler:
    """Build ``OPTIM.LR_SCHEDULER``, wrapped in a warm-up when ``OPTIM.WARMUP_EPOCH > 0``.

    The schedule is meant to be stepped once per epoch. With WARMUP_RECOUNT
    (default) the successor starts counting after the warm-up.
    """
    if optim_cfg.LR_SCHEDULER not in AVAI_SCHEDS:
        raise ValueError(f"OPTIM.LR_SCHEDULER must be one of {AVAI_SCHEDS}, but got {optim_cfg.LR_SCHEDULER!r}")
    scheduler = _main_scheduler(optimizer, optim_cfg)
    if optim_cfg.WARMUP_EPOCH <= 0:
        return scheduler
    return wrap_in_warmup(optimizer, scheduler, optim_cfg)


def wrap_in_warmup(optimizer: torch.optim.Optimizer, scheduler: LRScheduler, optim_cfg: CfgNode) -> LRScheduler:
    """Put ``scheduler`` behind ``OPTIM.WARMUP_EPOCH`` epochs of ``OPTIM.WARMUP_TYPE`` warm-up (Dassl's rule).

    Also used on top of the real Dassl's main scheduler where Dassl's own warm-up classes
    cannot be built on the installed torch (see ``hgclip.runtime.dassl_api``).
    """
    if not optim_cfg.WARMUP_RECOUNT:
        scheduler.last_epoch = optim_cfg.WARMUP_EPOCH
    if optim_cfg.WARMUP_TYPE == "constant":
        return ConstantWarmupScheduler(optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR)
    if optim_cfg.WARMUP_TYPE == "linear":
        return LinearWarmupScheduler(optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR)
    raise ValueError(f"OPTIM.WARMUP_TYPE must be 'constant' or 'linear', but got {optim_cfg.WARMUP_TYPE!r}")
