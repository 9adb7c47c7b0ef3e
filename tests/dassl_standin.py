"""TEST ONLY: the smallest ``TrainerX`` that the mimic checkout's own CoOp (tests/e2e/test_plugin.py) runs on.

The built-in engine has no trainer base class (this project's trainers own their life cycle), so without the
real Dassl, ``tests/e2e/test_plugin.py`` copies this file into its stand-in ``dassl`` package as
``dassl/engine/trainer.py``. It is not Dassl and not part of the package: loaders over the built-in
``DatasetWrapper``/``build_transform``, registered models, one optimiser step per batch, the checkout's
learning-rate steps, top-1 printed as Dassl prints it (``* accuracy: ...%``) and a last-epoch checkpoint.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader

from hgclip.runtime.builtin.data import DatasetWrapper, build_dataset, build_transform


class TrainerX:
    """Subclasses define ``build_model`` (calling ``register_model``) and ``forward_backward(batch)``."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.device = torch.device("cuda" if cfg.USE_CUDA and torch.cuda.is_available() else "cpu")
        dataset = build_dataset(cfg)
        self.num_classes, self.lab2cname = dataset.num_classes, dataset.lab2cname
        self.train_loader_x = self._loader(dataset.train_x, cfg.DATALOADER.TRAIN_X.BATCH_SIZE, is_train=True)
        self.test_loader = self._loader(dataset.test, cfg.DATALOADER.TEST.BATCH_SIZE, is_train=False)
        self.num_batches, self.batch_idx, self.epoch = len(self.train_loader_x), 0, 0
        self._models: dict[str, tuple[nn.Module, Any, Any]] = {}
        self.build_model()

    def _loader(self, items: list, batch_size: int, is_train: bool) -> DataLoader:
        wrapper = DatasetWrapper(self.cfg, items, transform=build_transform(self.cfg, is_train=is_train),
                                 is_train=is_train)
        return DataLoader(wrapper, batch_size=batch_size, shuffle=is_train, num_workers=self.cfg.DATALOADER.NUM_WORKERS,
                          drop_last=is_train and len(items) >= batch_size)

    def build_model(self) -> None:
        raise NotImplementedError

    def forward_backward(self, batch: dict) -> dict:
        raise NotImplementedError

    def register_model(self, name: str, model: nn.Module, optim: Any = None, sched: Any = None) -> None:
        self._models[name] = (model, optim, sched)

    def model_backward_and_update(self, loss: torch.Tensor) -> None:
        optims = [optim for _, optim, _ in self._models.values() if optim is not None]
        for optim in optims:
            optim.zero_grad()
        loss.backward()
        for optim in optims:
            optim.step()

    def update_lr(self) -> None:
        for _, _, sched in self._models.values():
            if sched is not None:
                sched.step()

    def train(self) -> None:
        """Every epoch over the training loader, then a checkpoint per model and the test."""
        max_epoch = int(self.cfg.OPTIM.MAX_EPOCH)
        for self.epoch in range(max_epoch):
            for model, _, _ in self._models.values():
                model.train()
            for self.batch_idx, batch in enumerate(self.train_loader_x):
                summary = self.forward_backward(batch)
            print(f"epoch [{self.epoch + 1}/{max_epoch}] {summary}")
        for name, (model, _, _) in self._models.items():
            os.makedirs(os.path.join(self.cfg.OUTPUT_DIR, name), exist_ok=True)
            torch.save({"state_dict": model.state_dict(), "epoch": max_epoch},
                       os.path.join(self.cfg.OUTPUT_DIR, name, f"model.pth.tar-{max_epoch}"))
        print("Finish training")
        self.test()

    @torch.no_grad()
    def test(self) -> float:
        """Top-1 on the test split, printed as Dassl's ``Classification`` evaluator prints it."""
        for model, _, _ in self._models.values():
            model.eval()
        correct = total = 0
        for batch in self.test_loader:
            predicted = self.model_inference(batch["img"].to(self.device)).argmax(1).cpu()
            correct += int((predicted == batch["label"]).sum())
            total += len(batch["label"])
        accuracy = 100.0 * correct / total
        print(f"=> result\n* total: {total:,}\n* correct: {correct:,}\n* accuracy: {accuracy:.1f}%")
        return accuracy

    def model_inference(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load each registered model's checkpoint of ``epoch`` (default: the last, ``OPTIM.MAX_EPOCH``)."""
        epoch = int(self.cfg.OPTIM.MAX_EPOCH) if epoch is None else epoch
        for name, (model, _, _) in self._models.items():
            path = os.path.join(directory, name, f"model.pth.tar-{epoch}")
            model.load_state_dict(torch.load(path, map_location=self.device, weights_only=True)["state_dict"])
