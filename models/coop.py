"""CoOp's model on a hierarchy: learned context shared by the prompts of every node of every level."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones.prompted_clip import PromptedTextEncoder
from .cached import CachedTextModel
from .text_prompts import TextPromptLearner


class CoOpModel(CachedTextModel):
    """Frozen CLIP + :class:`TextPromptLearner` (depth 1) over all nodes.

    Args:
        clip_model: frozen CLIP.
        class_names: one name per node (global order).
        n_ctx: learnable context tokens.
        ctx_init: initial context words ("" = random).
        csc: one context per class (cannot transfer to another class set).

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    def __init__(self, clip_model: nn.Module, class_names: Sequence[str], n_ctx: int, ctx_init: str,
                 csc: bool) -> None:
        super().__init__()
        self.clip_model = clip_model
        self.text_encoder = PromptedTextEncoder(clip_model, fast=True)
        self.learner = nn.Module()
        self.learner.text_prompts = TextPromptLearner(clip_model, list(class_names), n_ctx, ctx_init, 1, csc)

    def text_features(self) -> Tensor:
        """Normalised learned-prompt text features of every node ``[K, D]``."""
        prompts = self.learner.text_prompts
        features = self.text_encoder(prompts(), prompts.tokenized, shared_prefix=prompts.shared_prefix_length)
        return F.normalize(features.float(), dim=-1)

    def forward(self, images: Tensor) -> Tensor:
        with torch.no_grad():
            image_features = F.normalize(self.clip_model.encode_image(images).float(), dim=-1)
        text = self.cached("text", self.text_features)
        return self.clip_model.logit_scale.exp().float() * image_features @ text.t()
