"""TrainerBase: registered models/optimizers/schedulers, checkpoints and the epoch loop.

A method registers its trainable module(s) by name; every helper here (mode
switching, LR steps, updates, saving, resuming, loading) then iterates over
the registered names, so a trainer never writes that plumbing itself.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Iterable, Optional, Union

import torch
import torch.nn as nn

from ..utils import load_checkpoint, resume_from_checkpoint, save_checkpoint
from ..utils.torchtools import BEST_FILE, POINTER_FILE

Names = Optional[Union[str, Iterable[str]]]


class TrainerBase:
    """Base class for iterative trainers (Dassl's life cycle and model registry)."""

    def __init__(self) -> None:
        self._models: "OrderedDict[str, nn.Module]" = OrderedDict()
        self._optims: "OrderedDict[str, Optional[torch.optim.Optimizer]]" = OrderedDict()
        self._scheds: "OrderedDict[str, Optional[Any]]" = OrderedDict()
        self._writer = None

    # ----- model registry -------------------------------------------------------------
    def register_model(self, name: str = "model", model: Optional[nn.Module] = None,
                       optim: Optional[torch.optim.Optimizer] = None, sched: Optional[Any] = None) -> None:
        """Register ``model`` (and its optimizer/scheduler) under ``name``; names are checkpoint sub-folders."""
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot register a model before TrainerBase.__init__() has run")
        if name in self._models:
            raise KeyError(f"A model named {name!r} is already registered")
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names: Names = None) -> list[str]:
        """All registered names, or ``names`` after checking each is registered."""
        registered = list(self._models.keys())
        if names is None:
            return registered
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            if name not in self._models:
                raise KeyError(f"No model registered as {name!r} (registered: {registered})")
        return names

    # ----- checkpoints ----------------------------------------------------------------
    def save_model(self, epoch: int, directory: str, is_best: bool = False,
                   val_result: Optional[float] = None, model_name: str = "") -> None:
        """Save every registered model to ``<directory>/<name>/`` with epoch ``epoch + 1``."""
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            save_checkpoint(
                {
                    "state_dict": self._models[name].state_dict(),
                    "epoch": epoch + 1,
                    "optimizer": optim.state_dict() if optim is not None else None,
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "val_result": val_result,
                },
                os.path.join(directory, name),
                is_best=is_best,
                model_name=model_name,
            )

    def resume_model_if_exist(self, directory: str) -> int:
        """Resume every model from ``<directory>/<name>/checkpoint`` if all have one; return the epoch.

        This is Dassl's automatic resume: re-running into a finished output
        directory continues at the saved epoch (so training is skipped).
        """
        names = self.get_model_names()
        if not names or not all(os.path.isfile(os.path.join(directory, n, POINTER_FILE)) for n in names):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name in names:
            start_epoch = resume_from_checkpoint(os.path.join(directory, name), self._models[name],
                                                 self._optims[name], self._scheds[name])
        return start_epoch

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``model-best.pth.tar`` (default) or ``model.pth.tar-<epoch>`` into every model (strict)."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given "
                  "(ignore this if it's done on purpose)")
            return
        model_file = BEST_FILE if epoch is None else f"model.pth.tar-{epoch}"
        for name in self.get_model_names():
            model_path = os.path.join(directory, name, model_file)
            if not os.path.exists(model_path):
                raise FileNotFoundError(f"No model at {model_path}")
            checkpoint = load_checkpoint(model_path)
            val_result = checkpoint.get("val_result")
            shown = f", val_result={val_result:.1f}" if val_result is not None else ""
            print(f"Load {model_path} to {name} (epoch={checkpoint['epoch']}{shown})")
            self._models[name].load_state_dict(checkpoint["state_dict"])

    # ----- modes, LR and updates ------------------------------------------------------
    def set_model_mode(self, mode: str = "train", names: Names = None) -> None:
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f"Unknown model mode {mode!r}; expected 'train', 'eval' or 'test'")

    def update_lr(self, names: Names = None) -> None:
        """Step every registered scheduler (trainers call this once per epoch)."""
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss).all():
            raise FloatingPointError("Loss is infinite or NaN!")

    def model_zero_grad(self, names: Names = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss: torch.Tensor) -> None:
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names: Names = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss: torch.Tensor, names: Names = None) -> None:
        """zero_grad, anomaly check, backward, step -- on all (or the named) models."""
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)

    # ----- tensorboard ----------------------------------------------------------------
    def init_writer(self, log_dir: str) -> None:
        if self.__dict__.get("_writer") is None:
            from torch.utils.tensorboard import SummaryWriter  # imported here: heavy and only needed to train

            print(f"Initialize tensorboard (log_dir={log_dir})")
            self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag: str, scalar_value: float, global_step: Optional[int] = None) -> None:
        """Log a scalar to tensorboard; a no-op until ``init_writer`` (e.g. eval-only runs)."""
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    # ----- the loop -------------------------------------------------------------------
    def train(self, start_epoch: int, max_epoch: int) -> None:
        """before_train -> (before_epoch, run_epoch, after_epoch) per epoch -> after_train."""
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def run_epoch(self) -> None:
        raise NotImplementedError

    def test(self, split: Optional[str] = None):
        raise NotImplementedError

    def parse_batch_train(self, batch: dict):
        raise NotImplementedError

    def parse_batch_test(self, batch: dict):
        raise NotImplementedError

    def forward_backward(self, batch: dict) -> dict:
        raise NotImplementedError

    def model_inference(self, input: torch.Tensor):
        raise NotImplementedError
