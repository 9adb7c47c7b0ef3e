"""CoOp on a hierarchy: learned context shared by the prompts of every node of every level."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from backbones.prompted_clip import PromptedTextEncoder
from dassl_compat import TRAINER_REGISTRY
from hierarchy import Hierarchy

from .base import CachedTextModel, HierarchicalCLIPTrainer
from .modules import TextPromptLearner


class CoOpModel(CachedTextModel):
    """Frozen CLIP + :class:`TextPromptLearner` (depth 1) over all nodes.

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    def __init__(self, clip_model: nn.Module, hierarchy: Hierarchy, n_ctx: int, ctx_init: str, csc: bool) -> None:
        super().__init__()
        self.clip_model = clip_model
        self.text_encoder = PromptedTextEncoder(clip_model)
        self.learner = nn.Module()
        self.learner.text_prompts = TextPromptLearner(clip_model, hierarchy.node_names, n_ctx, ctx_init, 1, csc)

    def text_features(self) -> Tensor:
        prompts = self.learner.text_prompts
        return F.normalize(self.text_encoder(prompts(), prompts.tokenized).float(), dim=-1)

    def forward(self, images: Tensor) -> Tensor:
        with torch.no_grad():
            image_features = F.normalize(self.clip_model.encode_image(images).float(), dim=-1)
        text = self.cached("text", self.text_features)
        return self.clip_model.logit_scale.exp().float() * image_features @ text.t()


@TRAINER_REGISTRY.register()
class CoOp(HierarchicalCLIPTrainer):
    """Context Optimization (Zhou et al., IJCV 2022) with per-level weighted cross-entropy."""

    CFG_KEY = "COOP"

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        return CoOpModel(clip_model, hierarchy, c.N_CTX, c.CTX_INIT, c.CSC)
