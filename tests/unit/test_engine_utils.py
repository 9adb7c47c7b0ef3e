"""The built-in engine's config, registries, meters, logger and file helpers."""
from __future__ import annotations

import sys

import pytest
import torch

from hgclip.runtime.builtin.config import get_cfg_default
from hgclip.runtime.builtin.engine import TRAINER_REGISTRY, build_trainer
from hgclip.runtime.builtin.utils import (
    AverageMeter,
    MetricMeter,
    Registry,
    set_random_seed,
    setup_logger,
)


def test_registry_register_get_and_errors():
    registry = Registry("THING")

    @registry.register()
    class Alpha:
        pass

    assert registry.get("Alpha") is Alpha
    assert registry.registered_names() == ["Alpha"]
    with pytest.raises(KeyError, match="already registered"):
        registry.register()(type("Alpha", (), {}))
    with pytest.raises(KeyError, match="does not exist"):
        registry.get("Beta")
    replacement = type("Alpha", (), {})
    registry.register(replacement, force=True)
    assert registry.get("Alpha") is replacement


def test_build_trainer_instantiates_the_named_class_and_rejects_unknown_names():
    @TRAINER_REGISTRY.register()
    class EngineTestPlainTrainer:
        def __init__(self, cfg):
            self.cfg = cfg

    cfg = get_cfg_default()
    cfg.TRAINER.NAME = "EngineTestPlainTrainer"
    assert build_trainer(cfg).cfg is cfg
    cfg.TRAINER.NAME = "EngineTestPlainTrainr"
    with pytest.raises(ValueError, match=r"do you mean \[EngineTestPlainTrainer\]"):
        build_trainer(cfg)


def test_get_cfg_default_returns_independent_clones_with_dassl_defaults():
    first, second = get_cfg_default(), get_cfg_default()
    first.OPTIM.LR = 123.0
    first.DATASET.NAME = "Changed"
    assert second.OPTIM.LR == 0.0003 and second.DATASET.NAME == ""
    assert get_cfg_default().OPTIM.LR == 0.0003
    cfg = get_cfg_default()
    assert cfg.DATASET.NUM_SHOTS == -1 and cfg.SEED == -1 and cfg.USE_CUDA is True
    assert cfg.DATALOADER.TRAIN_X.SAMPLER == "RandomSampler" and cfg.DATALOADER.TEST.SAMPLER == "SequentialSampler"
    assert cfg.OPTIM.WARMUP_RECOUNT is True and cfg.OPTIM.WARMUP_CONS_LR == 1e-5
    assert cfg.TEST.EVALUATOR == "Classification" and cfg.TEST.FINAL_MODEL == "last_step"
    assert cfg.TRAIN.CHECKPOINT_FREQ == 0 and cfg.TRAIN.PRINT_FREQ == 10
    assert cfg.MODEL.BACKBONE.PRETRAINED is True and cfg.TRAINER.NAME == ""
    cfg.merge_from_list(["OPTIM.MAX_EPOCH", "5", "INPUT.SIZE", "(32, 32)"])
    assert cfg.OPTIM.MAX_EPOCH == 5 and tuple(cfg.INPUT.SIZE) == (32, 32)
    with pytest.raises(AssertionError, match="Non-existent key"):  # yacs rejects unknown keys
        cfg.merge_from_list(["OPTIM.NOT_A_KEY", "1"])


def test_meters_format_and_average():
    meter = AverageMeter()
    meter.update(1.0)
    meter.update(torch.tensor(3.0))
    assert meter.val == 3.0 and meter.avg == 2.0
    metrics = MetricMeter()
    metrics.update({"loss": 1.0, "acc": 50.0})
    metrics.update({"loss": 0.5, "acc": 100.0})
    assert str(metrics) == "loss 0.5000 (0.7500) acc 100.0000 (75.0000)"
    with pytest.raises(TypeError):
        metrics.update([1.0])


def test_set_random_seed_is_repeatable():
    import random

    import numpy as np

    set_random_seed(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_random_seed(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_setup_logger_tees_stdout_and_keeps_old_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # restored after the test
    setup_logger(str(tmp_path))
    print("first run line")
    sys.stdout.flush()
    assert "first run line" in (tmp_path / "log.txt").read_text()
    setup_logger(str(tmp_path))
    print("second run line")
    sys.stdout.flush()
    assert "second run line" not in (tmp_path / "log.txt").read_text()
    rotated = [p for p in tmp_path.iterdir() if p.name.startswith("log.txt-")]
    assert len(rotated) == 1 and "second run line" in rotated[0].read_text()
    sys.stdout.close()


def test_file_helpers(tmp_path):
    from hgclip.runtime.builtin.utils import check_isfile, listdir_nohidden, mkdir_if_missing

    mkdir_if_missing(str(tmp_path / "a" / "b"))
    mkdir_if_missing(str(tmp_path / "a" / "b"))  # idempotent
    (tmp_path / "a" / "z.txt").write_text("z")
    (tmp_path / "a" / ".hidden").write_text("h")
    assert listdir_nohidden(str(tmp_path / "a"), sort=True) == ["b", "z.txt"]
    assert check_isfile(str(tmp_path / "a" / "z.txt"))
    with pytest.warns(UserWarning, match="No file found"):
        assert not check_isfile(str(tmp_path / "a" / "b"))
