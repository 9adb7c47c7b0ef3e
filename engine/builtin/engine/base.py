"""TrainerBase: Dassl's epoch loop and checkpoint calls over the registered models.

For a checkout's own trainers (a CoOp/MaPLe ``TrainerX`` subclass) run on the built-in
engine. The registry plumbing is :class:`hgclip.engine.model_registry.ModelRegistry`; the
files are written and read by :mod:`hgclip.engine.run_dir` (the same format as this
project's trainers).
"""
from __future__ import annotations

import os
from typing import Optional

import torch

from ...model_registry import ModelRegistry
from ...run_dir import BEST_FILE, checkpoint_path, latest_checkpoint, read_verified, resume_point_name, write_checkpoint


class TrainerBase(ModelRegistry):
    """Base class for iterative trainers (Dassl's life cycle over the model registry)."""

    # ----- checkpoints ----------------------------------------------------------------
    def save_model(self, epoch: int, directory: str, is_best: bool = False,
                   val_result: Optional[float] = None, model_name: str = "") -> None:
        """Save every registered model to ``<directory>/<name>/`` with epoch ``epoch + 1``."""
        filename = model_name or resume_point_name(epoch + 1)
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state = {
                "state_dict": self._models[name].state_dict(),
                "epoch": epoch + 1,
                "optimizer": optim.state_dict() if optim is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
                "val_result": val_result,
            }
            model_dir = os.path.join(directory, name)
            os.makedirs(model_dir, exist_ok=True)
            print(f"Checkpoint saved to {write_checkpoint(state, model_dir, filename)}")
            if is_best:
                print(f"Best checkpoint saved to {write_checkpoint(state, model_dir, BEST_FILE, False)}")

    def resume_model_if_exist(self, directory: str) -> int:
        """Resume every model from the checkpoint its ``checkpoint`` pointer names, if all have one; return the epoch.

        This is Dassl's automatic resume: re-running into a finished output
        directory continues at the saved epoch (so training is skipped).
        """
        names = self.get_model_names()
        paths = [latest_checkpoint(os.path.join(directory, name)) for name in names]
        if not names or None in paths:
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name, path in zip(names, paths):
            print(f'Loading checkpoint from "{path}"')
            checkpoint = read_verified(path)
            self._models[name].load_state_dict(checkpoint["state_dict"])
            if self._optims[name] is not None and checkpoint.get("optimizer") is not None:
                self._optims[name].load_state_dict(checkpoint["optimizer"])
            if self._scheds[name] is not None and checkpoint.get("scheduler") is not None:
                self._scheds[name].load_state_dict(checkpoint["scheduler"])
            start_epoch = checkpoint["epoch"]
            print(f"Previous epoch: {start_epoch}")
        return start_epoch

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/<name>/`` 's best model (default) or the one of ``epoch`` into every model (strict)."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given "
                  "(ignore this if it's done on purpose)")
            return
        for name in self.get_model_names():
            path = checkpoint_path(os.path.join(directory, name), epoch, fall_back_to_latest=False)
            checkpoint = read_verified(path)
            val_result = checkpoint.get("val_result")
            shown = f", val_result={val_result:.1f}" if val_result is not None else ""
            print(f"Load {path} to {name} (epoch={checkpoint['epoch']}{shown})")
            self._models[name].load_state_dict(checkpoint["state_dict"])

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
