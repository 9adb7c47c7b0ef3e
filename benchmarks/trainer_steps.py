"""One training step of every registered trainer, on a given CLIP and hierarchy, without a dataset.

A step is what ``forward_backward`` does in fp32: the trainer's own
``compute_loss`` (its model, its loss terms), ``backward`` and an optimiser
step on the learner. The trainer object is a shell (``cls.__new__``) that holds
only what ``build_clip_model`` and ``compute_loss`` read -- the config, the
hierarchy and the level weights -- so the code timed is the project's, and no
data loader or prototype pass is needed. HGCLIP gets random unit-norm
prototypes in place of the prototype pass (they are a fixed buffer).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..hierarchy import Hierarchy
from ..project import get_cfg
from ..runtime.dassl_api import TRAINER_REGISTRY


def registered_trainers() -> list[str]:
    """Every registered hierarchical trainer, in the registry's table order."""
    from ..registry import list_trainers

    return list_trainers()


def bench_cfg(opts: Optional[list] = None) -> Any:
    """The project's default config (published per-trainer settings), with ``KEY VALUE`` overrides."""
    cfg = get_cfg()
    cfg.DATASET.NAME = "Benchmark"  # no templates file of its own: configs/templates/default.json
    if opts:
        cfg.merge_from_list(list(opts))
    return cfg


@dataclass
class TrainerStep:
    """A built trainer shell, its model and an SGD optimiser over the learner."""

    name: str
    trainer: Any
    model: nn.Module
    optimizer: Optional[torch.optim.Optimizer]

    @property
    def trainable(self) -> bool:
        return self.optimizer is not None

    def loss(self, images: Tensor, labels: Tensor) -> Tensor:
        return self.trainer.compute_loss(images, labels)[0]

    def step(self, images: Tensor, labels: Tensor) -> float:
        """One training step (ZeroshotCLIP, which has nothing to train: one inference forward)."""
        if not self.trainable:
            with torch.no_grad():
                return float(self.model(images).sum())
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(images, labels)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def _shell(cls: type, cfg: Any, hierarchy: Hierarchy, device: torch.device) -> Any:
    from ..models.losses import resolve_level_weights

    trainer = cls.__new__(cls)
    trainer.cfg = cfg
    trainer.device = device
    trainer.hierarchy = hierarchy
    weights = getattr(cfg.TRAINER[cls.CFG_KEY], "LEVEL_WEIGHTS", [])
    trainer.level_weights = resolve_level_weights(weights, hierarchy)
    trainer.protect = None  # the LOSS terms are off in the benchmark, as by default
    return trainer


def unit_prototypes(hierarchy: Hierarchy, dim: int, seed: int = 0) -> Tensor:
    """Random L2-normalised node prototypes ``[K, D]`` (stand-ins for the mean frozen-CLIP image features)."""
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(hierarchy.num_nodes, dim, generator=g), dim=-1)


def build_model(name: str, clip_model: nn.Module, hierarchy: Hierarchy, cfg: Any, device: torch.device,
                prototypes: Optional[Tensor] = None) -> tuple[Any, nn.Module]:
    """``(trainer shell, model)`` of trainer ``name`` as ``build_model`` makes it (frozen CLIP, trainable learner)."""
    from ..models.hgclip import HGCLIPModel
    from ..trainers.hgclip import HGCLIP, hgclip_settings

    cls = TRAINER_REGISTRY.get(name)
    trainer = _shell(cls, cfg, hierarchy, device)
    if issubclass(cls, HGCLIP):
        embed_dim = int(clip_model.text_projection.shape[1])
        settings = hgclip_settings(trainer.trainer_cfg, embed_dim)
        if settings.attention and prototypes is None:
            prototypes = unit_prototypes(hierarchy, embed_dim)
        model = HGCLIPModel(clip_model, hierarchy, settings, prototypes)
    else:
        model = trainer.build_clip_model(clip_model, hierarchy)
    model.requires_grad_(False)
    model.learner.requires_grad_(True)
    model.to(device)
    trainer.model = model
    return trainer, model


def build_step(name: str, clip_model: nn.Module, hierarchy: Hierarchy, device: torch.device,
               opts: Optional[list] = None, prototypes: Optional[Tensor] = None) -> TrainerStep:
    """A :class:`TrainerStep` for trainer ``name`` with the project's default settings (+ ``opts``)."""
    trainer, model = build_model(name, clip_model, hierarchy, bench_cfg(opts), device, prototypes)
    params = [p for p in model.learner.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9) if params else None
    return TrainerStep(name, trainer, model, optimizer)
