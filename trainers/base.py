"""The life cycle shared by every hierarchical CLIP trainer.

Dassl's ``TrainerX`` owns the loop; this class adds what all hierarchical
trainers need, so that a method only says how to build its model:

* the hierarchy comes from the dataset (its own, or one attached by class name to a flat
  Dassl dataset: :func:`hgclip.datasets.attach.dataset_hierarchy`); every node of every
  level is a class and models return all-node logits;
* CLIP is loaded from ``MODEL.BACKBONE``, frozen, and cast for ``PREC``
  (fp16/amp fall back to fp32 without CUDA, with one warning);
* only the model's ``learner`` (prompts, graph encoders, ...) is trained and
  registered, so checkpoints are small and hold no class-dependent tensors:
  a model trained on base classes loads for new classes;
* the loss is the weighted sum of per-level cross-entropies (:mod:`hgclip.trainers.losses`);
* the shared :class:`~hgclip.evaluation.Hierarchical` evaluator gets the hierarchy.

A subclass sets ``CFG_KEY`` (its ``TRAINER.<KEY>`` node), ``TABLE_ORDER`` and
``HAS_PARAMETERS`` (see :mod:`hgclip.registry`) and implements :meth:`build_clip_model`.
It may override :meth:`compute_loss` to add terms.
"""
from __future__ import annotations

import os.path as osp
from typing import Any

import torch
from torch import Tensor, nn

from hgclip.backbones import load_clip
from hgclip.backbones.precision import apply_precision, resolve_precision, validate_precision
from hgclip.dassl_compat import TrainerX, announce_engine, build_lr_scheduler, build_optimizer
from hgclip.datasets.attach import dataset_hierarchy
from hgclip.evaluation import Hierarchical
from hgclip.fileio import read_checkpoint
from hgclip.hierarchy import Hierarchy

from .losses import cross_entropy_terms, resolve_level_weights

LEARNER_NAME = "prompt_learner"


class HierarchicalCLIPTrainer(TrainerX):
    """Base class of ZeroshotCLIP, CoOp, IVLP, HGCLIP, ... (not registered itself)."""

    CFG_KEY: str = ""
    TABLE_ORDER: int = 10**6  # column in the paper's Table 1 (hgclip.registry.list_trainers)
    HAS_PARAMETERS: bool = True  # False: nothing to train (evaluated with --eval-only, no --model-dir)

    # ------------------------------------------------------------------ set-up
    def __init__(self, cfg: Any) -> None:
        announce_engine()
        super().__init__(cfg)
        # Dassl builds its TEST.EVALUATOR (a flat Classification one by default) without the
        # hierarchy; every trainer here reports every level with the shared evaluator.
        self.evaluator = Hierarchical(cfg, lab2cname=self.lab2cname, hierarchy=self.hierarchy,
                                      decoding=cfg.TEST.DECODING)

    @property
    def trainer_cfg(self) -> Any:
        return self.cfg.TRAINER[self.CFG_KEY]

    def check_cfg(self, cfg: Any) -> None:
        validate_precision(cfg.TRAINER[self.CFG_KEY].PREC, f"TRAINER.{self.CFG_KEY}.PREC")

    def build_model(self) -> None:
        cfg = self.cfg
        self.hierarchy: Hierarchy = dataset_hierarchy(self.dm.dataset, cfg)
        self.precision = resolve_precision(self.trainer_cfg.PREC, self.device, f"TRAINER.{self.CFG_KEY}.PREC")
        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME}, precision: {self.precision})")
        clip_model = apply_precision(load_clip(cfg.MODEL.BACKBONE), self.precision)

        print(f"Building {type(self).__name__} over {self.hierarchy}")
        self.model = self.build_clip_model(clip_model, self.hierarchy)
        self.model.requires_grad_(False)
        self.model.learner.requires_grad_(True)
        self.model.to(self.device)

        level_weights = getattr(self.trainer_cfg, "LEVEL_WEIGHTS", [])
        self.level_weights = resolve_level_weights(level_weights, self.hierarchy, f"TRAINER.{self.CFG_KEY}.LEVEL_WEIGHTS")
        trainable = [p for p in self.model.learner.parameters() if p.requires_grad]
        print(f"Trainable parameters: {sum(p.numel() for p in trainable):,}")
        if trainable:
            self.optim = build_optimizer(self.model.learner, cfg.OPTIM)
            self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
            self.register_model(LEARNER_NAME, self.model.learner, self.optim, self.sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "amp" else None

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        """Return a module with a ``learner`` sub-module and ``forward(images) -> [B, num_nodes]`` logits."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training
    def set_model_mode(self, mode: str = "train", names: Any = None) -> None:
        """Dassl only switches registered modules; the frozen wrapper follows too (it caches at eval)."""
        super().set_model_mode(mode, names)
        self.model.train(mode == "train")

    def parse_batch_train(self, batch: dict) -> tuple[Tensor, Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def parse_batch_test(self, batch: dict) -> tuple[Tensor, Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def compute_loss(self, images: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss and the named terms to log. Default: per-level weighted cross-entropy."""
        return cross_entropy_terms(self.model(images), labels, self.hierarchy, self.level_weights)

    def forward_backward(self, batch: dict) -> dict[str, float]:
        images, labels = self.parse_batch_train(batch)
        if self.scaler is not None:
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                loss, terms = self.compute_loss(images, labels)
            self.detect_anomaly(loss)
            self.model_zero_grad()
            self.scaler.scale(loss).backward()
            for name in self.get_model_names():
                self.scaler.step(self._optims[name])
            self.scaler.update()
        else:
            loss, terms = self.compute_loss(images, labels)
            self.model_backward_and_update(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        summary = {"loss": loss.item()}
        summary.update({name: float(value.detach()) for name, value in terms.items()})
        return summary

    # ------------------------------------------------------------------ testing
    def model_inference(self, images: Tensor) -> Tensor:
        return self.model(images)

    def test(self, split: str | None = None) -> Any:
        self.evaluator.split = split or self.cfg.TEST.SPLIT
        return super().test(split)

    # ------------------------------------------------------------------ checkpoints
    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Load the learner from ``directory`` (Dassl layout), whatever the current class set.

        ``epoch=None`` loads ``model-best.pth.tar`` when present, otherwise the
        checkpoint named by the ``checkpoint`` pointer file. Only the learner is
        stored, so no class-dependent buffer has to be dropped; a class-specific
        parameter that cannot transfer fails with its name and both shapes.
        """
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            path = checkpoint_path(osp.join(directory, name), epoch)
            checkpoint = read_checkpoint(path)
            state_dict = checkpoint["state_dict"]
            model = self._models[name]
            expected = model.state_dict()
            for key, value in state_dict.items():
                if key in expected and expected[key].shape != value.shape:
                    raise RuntimeError(
                        f"{path}: parameter {key!r} has shape {tuple(value.shape)} in the checkpoint but "
                        f"{tuple(expected[key].shape)} here (class-specific parameters cannot transfer to another class set)"
                    )
            print(f"Loading weights to {name} from {path} (epoch = {checkpoint.get('epoch')})")
            model.load_state_dict(state_dict, strict=True)
        clear = getattr(self.model, "clear_cache", None)
        if clear is not None:
            clear()


def checkpoint_path(model_dir: str, epoch: int | None) -> str:
    """``model.pth.tar-<epoch>``, else ``model-best.pth.tar``, else the file the ``checkpoint`` pointer names."""
    if epoch is not None:
        path = osp.join(model_dir, f"model.pth.tar-{epoch}")
    elif osp.isfile(osp.join(model_dir, "model-best.pth.tar")):
        path = osp.join(model_dir, "model-best.pth.tar")
    else:
        pointer = osp.join(model_dir, "checkpoint")
        if not osp.isfile(pointer):
            raise FileNotFoundError(f"no checkpoint found in {model_dir} (expected model-best.pth.tar or a 'checkpoint' file)")
        with open(pointer) as handle:
            path = osp.join(model_dir, handle.readline().strip())
    if not osp.isfile(path):
        raise FileNotFoundError(f'Model not found at "{path}"')
    return path


__all__ = ["HierarchicalCLIPTrainer", "LEARNER_NAME", "checkpoint_path"]
