"""minidassl optimizers and LR schedules (Dassl's step semantics, safe state_dict)."""
from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn as nn

from hgclip.runtime.builtin.config import get_cfg_default
from hgclip.runtime.builtin.optim import ConstantWarmupScheduler, build_lr_scheduler, build_optimizer


def _optim_cfg(**overrides):
    cfg = get_cfg_default().OPTIM
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def _per_epoch_lrs(optimizer, scheduler, epochs):
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


MAPLE = dict(NAME="sgd", LR=0.0035, MAX_EPOCH=5, LR_SCHEDULER="cosine",
             WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)


def test_constant_warmup_then_cosine_worked_example():
    cfg = _optim_cfg(**MAPLE)
    optimizer = build_optimizer(nn.Linear(2, 2), cfg)
    scheduler = build_lr_scheduler(optimizer, cfg)
    assert isinstance(scheduler, ConstantWarmupScheduler)
    lrs = _per_epoch_lrs(optimizer, scheduler, 5)
    assert lrs == pytest.approx([1e-5, 0.0035, 0.0031658, 0.0022908, 0.0012092], rel=1e-4)


def test_linear_warmup_and_no_recount():
    cfg = _optim_cfg(NAME="sgd", LR=0.1, MAX_EPOCH=6, LR_SCHEDULER="single_step", STEPSIZE=(3,), GAMMA=0.5,
                     WARMUP_EPOCH=2, WARMUP_TYPE="linear", WARMUP_MIN_LR=0.01)
    optimizer = build_optimizer(nn.Linear(2, 2), cfg)
    lrs = _per_epoch_lrs(optimizer, build_lr_scheduler(optimizer, cfg), 6)
    assert lrs == pytest.approx([0.01, 0.05, 0.1, 0.1, 0.1, 0.05])

    cfg.WARMUP_RECOUNT = False  # successor starts at epoch WARMUP_EPOCH
    optimizer = build_optimizer(nn.Linear(2, 2), cfg)
    lrs = _per_epoch_lrs(optimizer, build_lr_scheduler(optimizer, cfg), 6)
    assert lrs == pytest.approx([0.01, 0.05, 0.1, 0.05, 0.05, 0.05])


def test_warmup_state_dict_survives_weights_only_load_and_resumes_the_schedule():
    cfg = _optim_cfg(**MAPLE)
    optimizer = build_optimizer(nn.Linear(2, 2), cfg)
    scheduler = build_lr_scheduler(optimizer, cfg)
    _per_epoch_lrs(optimizer, scheduler, 3)
    buffer = io.BytesIO()
    torch.save({"scheduler": scheduler.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert "optimizer" not in saved["scheduler"] and isinstance(saved["scheduler"]["successor"], dict)

    fresh_optimizer = build_optimizer(nn.Linear(2, 2), cfg)
    fresh = build_lr_scheduler(fresh_optimizer, cfg)
    fresh_optimizer.load_state_dict(saved["optimizer"])
    fresh.load_state_dict(saved["scheduler"])
    assert fresh.successor.optimizer is fresh_optimizer
    remaining = _per_epoch_lrs(fresh_optimizer, fresh, 2)
    assert remaining == pytest.approx([0.0022908, 0.0012092], rel=1e-4)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "amsgrad", "rmsprop", "radam"])
def test_every_optimizer_name_builds_and_steps(name):
    model = nn.Linear(3, 1)
    optimizer = build_optimizer(model, _optim_cfg(NAME=name, LR=0.01))
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_optimizer_param_groups_staged_lr_and_errors():
    model = nn.Sequential()
    model.add_module("base", nn.Linear(2, 2))
    model.add_module("head", nn.Linear(2, 2))
    groups = [{"params": model.base.parameters(), "lr": 0.5}, {"params": model.head.parameters()}]
    optimizer = build_optimizer(None, _optim_cfg(NAME="sgd", LR=0.1), param_groups=groups)
    assert [g["lr"] for g in optimizer.param_groups] == [0.5, 0.1]

    staged = build_optimizer(model, _optim_cfg(NAME="sgd", LR=0.1, STAGED_LR=True, NEW_LAYERS=("head",)))
    assert [g["lr"] for g in staged.param_groups] == pytest.approx([0.01, 0.1])

    with pytest.raises(ValueError, match="OPTIM.NAME"):
        build_optimizer(model, _optim_cfg(NAME="lion"))
    with pytest.raises(ValueError, match="OPTIM.LR_SCHEDULER"):
        build_lr_scheduler(torch.optim.SGD(model.parameters(), lr=0.1), _optim_cfg(LR_SCHEDULER="plateau"))


def test_cosine_without_warmup_matches_closed_form():
    cfg = _optim_cfg(NAME="sgd", LR=1.0, MAX_EPOCH=4, LR_SCHEDULER="cosine")
    optimizer = build_optimizer(nn.Linear(2, 2), cfg)
    lrs = _per_epoch_lrs(optimizer, build_lr_scheduler(optimizer, cfg), 4)
    assert lrs == pytest.approx([(1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
