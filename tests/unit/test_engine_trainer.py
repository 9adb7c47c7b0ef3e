"""End to end: a tiny TrainerX on a tiny registered dataset, as train.py would run it."""
from __future__ import annotations

import os
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from hgclip.runtime.builtin.config import get_cfg_default
from hgclip.runtime.builtin.data import DATASET_REGISTRY, DatasetBase, Datum
from hgclip.runtime.builtin.engine import TRAINER_REGISTRY, TrainerX, build_trainer
from hgclip.runtime.builtin.optim import build_lr_scheduler, build_optimizer
from hgclip.runtime.builtin.utils import setup_logger

COLORS = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]


@DATASET_REGISTRY.register()
class EngineTestColors(DatasetBase):
    """3 colour classes; 4 train, 1 val, 2 test images each, written under DATASET.ROOT."""

    def __init__(self, cfg):
        root = os.path.join(cfg.DATASET.ROOT, "engine_colors")
        splits = {"train": 4, "val": 1, "test": 2}
        data = {}
        for split, per_class in splits.items():
            data[split] = []
            for label, color in enumerate(COLORS):
                for i in range(per_class):
                    path = os.path.join(root, split, f"{label}_{i}.png")
                    if not os.path.exists(path):
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        Image.new("RGB", (10, 10), color=color).save(path)
                    data[split].append(Datum(impath=path, label=label, classname=f"color {label}"))
        super().__init__(train_x=data["train"], val=data["val"], test=data["test"])


@TRAINER_REGISTRY.register()
class EngineTestLinear(TrainerX):
    """A linear classifier on 8x8 pixels; steps the LR on the last batch like CoOp."""

    def build_model(self):
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, self.num_classes)).to(self.device)
        self.optim = build_optimizer(self.model, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("linear_head", self.model, self.optim, self.sched)

    def forward_backward(self, batch):
        image, label, _domain = self.parse_batch_train(batch)
        output = self.model(image)
        loss = F.cross_entropy(output, label)
        self.model_backward_and_update(loss)
        if self.batch_idx + 1 == self.num_batches:
            self.update_lr()
        return {"loss": loss.item(), "acc": 100.0 * (output.argmax(1) == label).float().mean().item()}


def _cfg(tmp_path, max_epoch=2, **test_overrides):
    cfg = get_cfg_default()
    cfg.DATASET.ROOT = str(tmp_path / "data")
    cfg.DATASET.NAME = "EngineTestColors"
    cfg.TRAINER.NAME = "EngineTestLinear"
    cfg.OUTPUT_DIR = str(tmp_path / "out")
    cfg.USE_CUDA = False
    cfg.INPUT.SIZE = (8, 8)
    cfg.INPUT.TRANSFORMS = ("random_flip", "normalize")
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = 4
    cfg.DATALOADER.TEST.BATCH_SIZE = 4
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.1
    cfg.OPTIM.MAX_EPOCH = max_epoch
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    cfg.TRAIN.PRINT_FREQ = 2
    for key, value in test_overrides.items():
        setattr(cfg.TEST, key, value)
    cfg.freeze()
    return cfg


@pytest.fixture
def logged(monkeypatch):
    """Let a test tee stdout to log.txt; restores the original stdout afterwards."""
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    yield
    if hasattr(sys.stdout, "close") and hasattr(sys.stdout, "console"):
        sys.stdout.close()


def test_train_logs_checkpoints_resumes_and_loads(tmp_path, logged, capsys):
    cfg = _cfg(tmp_path)
    out = tmp_path / "out"
    setup_logger(cfg.OUTPUT_DIR)
    trainer = build_trainer(cfg)
    assert trainer.dm.dataset.num_classes == 3 and trainer.val_loader is not None
    trainer.train()
    sys.stdout.flush()

    log = (out / "log.txt").read_text()
    assert "epoch [2/2] batch [3/3]" in log and "lr 1.0000e-01" in log
    assert "Finish training" in log and "Deploy the last-epoch model" in log
    assert "Evaluate on the *test* set" in log and "* accuracy:" in log and "Elapsed:" in log
    ckpt_dir = out / "linear_head"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["checkpoint", "checkpoints.sha256", "model.pth.tar-2"]
    assert (ckpt_dir / "checkpoint").read_text().strip() == "model.pth.tar-2"
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tensorboard").iterdir())
    trained = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    # re-running into the same OUTPUT_DIR resumes at epoch 2: no training, straight to the test
    setup_logger(cfg.OUTPUT_DIR)
    rerun = build_trainer(cfg)
    rerun.train()
    sys.stdout.flush()
    second_log = next(p for p in out.iterdir() if p.name.startswith("log.txt-")).read_text()
    assert "will resume training" in second_log and "epoch [" not in second_log
    assert "Finish training" in second_log
    for key, value in rerun.model.state_dict().items():
        assert torch.equal(value, trained[key])

    # eval-only style loading: val_result is None, the line must still print
    fresh = build_trainer(cfg)
    capsys.readouterr()
    fresh.load_model(cfg.OUTPUT_DIR, epoch=2)
    assert "(epoch=2)" in capsys.readouterr().out
    assert fresh.test() == rerun.test()
    with pytest.raises(FileNotFoundError, match="model-best.pth.tar"):
        fresh.load_model(cfg.OUTPUT_DIR)


def test_interrupted_run_resumes_optimizer_and_schedule(tmp_path, capsys):
    build_trainer(_cfg(tmp_path, max_epoch=1)).train()  # "crash" after epoch 1 of 2
    resumed = build_trainer(_cfg(tmp_path, max_epoch=2))
    resumed.train()
    out = capsys.readouterr().out.split("Finish training")[1]
    assert "epoch [2/2]" in out and "epoch [1/2]" not in out
    # epoch 2 ran at the post-warm-up LR restored from the epoch-1 scheduler state
    assert "lr 1.0000e-01" in out
    assert (tmp_path / "out" / "linear_head" / "model.pth.tar-2").is_file()


def test_best_val_selection_saves_and_deploys_the_best_model(tmp_path, capsys):
    cfg = _cfg(tmp_path, max_epoch=2, FINAL_MODEL="best_val")
    build_trainer(cfg).train()
    out = capsys.readouterr().out
    assert "Evaluate on the *val* set" in out and "Deploy the model with the best val performance" in out
    best = tmp_path / "out" / "linear_head" / "model-best.pth.tar"
    assert best.is_file()
    assert "val_result=" in out  # load_model prints the stored val result


def test_anomaly_detection_and_unknown_trainer(tmp_path):
    trainer = build_trainer(_cfg(tmp_path))
    with pytest.raises(FloatingPointError):
        trainer.model_backward(torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(KeyError, match="already registered"):
        trainer.register_model("linear_head", trainer.model)
    cfg = _cfg(tmp_path).clone()
    cfg.defrost()
    cfg.TRAINER.NAME = "NoSuchTrainer"
    with pytest.raises(ValueError, match="NoSuchTrainer"):
        build_trainer(cfg)
