"""Registered models: the plumbing a trainer iterates over instead of writing it per method.

A trainer registers its trainable module(s) by name with their optimizer and scheduler;
mode switching, learning-rate steps, zero-grad/backward/step and the checkpoint folders
then go over the registered names (the trainer's :class:`~hgclip.engine.checkpointing.Checkpointer`
writes and reads them). It also holds the optional tensorboard writer.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Optional, Union

import torch
from torch import nn

Names = Optional[Union[str, Iterable[str]]]


class ModelRegistry:
    """Models, optimizers and schedulers by name, and the tensorboard writer (Dassl's method names)."""

    def __init__(self) -> None:
        self._models: "OrderedDict[str, nn.Module]" = OrderedDict()
        self._optims: "OrderedDict[str, Optional[torch.optim.Optimizer]]" = OrderedDict()
        self._scheds: "OrderedDict[str, Optional[Any]]" = OrderedDict()
        self._writer: Any = None

    # ----- registry -------------------------------------------------------------------
    def register_model(self, name: str = "model", model: Optional[nn.Module] = None,
                       optim: Optional[torch.optim.Optimizer] = None, sched: Optional[Any] = None) -> None:
        """Register ``model`` (and its optimizer/scheduler) under ``name``; names are checkpoint sub-folders."""
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot register a model before ModelRegistry.__init__() has run")
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

    def registered(self, name: str) -> tuple[nn.Module, Optional[torch.optim.Optimizer], Optional[Any]]:
        """The module, optimizer and scheduler registered as ``name`` (what a checkpoint of it holds)."""
        self.get_model_names(name)  # a KeyError that lists the registered names
        return self._models[name], self._optims[name], self._scheds[name]

    # ----- modes, learning rate and updates -------------------------------------------
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

    def get_current_lr(self, names: Names = None) -> float:
        """Learning rate of the first parameter group of the first (or first named) model's optimizer."""
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]

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


__all__ = ["ModelRegistry", "Names"]
