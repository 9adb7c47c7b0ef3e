"""Frozen CLIP with independent deep vision and language prompts (IVLP): the model HGCLIP, MaPLe and PromptSRC build on."""
from __future__ import annotations

from typing import Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones.prompted_clip import PromptedTextEncoder, PromptedVisionEncoder
from .cached import CachedTextModel
from .text_prompts import TextPromptLearner
from .vision_prompts import VisionPromptLearner


class DeepPromptCLIP(CachedTextModel):
    r"""Frozen CLIP with independent deep text and vision prompts.

    logits :math:`= e^{s}\,\bar f_v \bar F_t^\top` with :math:`\bar\cdot` = L2-normalised,
    :math:`f_v` the prompted image feature and :math:`F_t` the prompted text features of all nodes.
    Everything trainable lives in ``self.learner`` (text prompts, vision prompts, and what
    subclasses add), so a trainer registers and checkpoints only that sub-module.

    Args:
        clip_model: frozen CLIP (ViT image tower).
        class_names: one name per node (global order).
        n_ctx_text, n_ctx_vision: prompt tokens per layer (``n_ctx_vision=0``: no vision prompts).
        depth_text, depth_vision: number of prompted layers (the input level plus ``depth - 1`` deeper ones).
        ctx_init: initial text context.

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    def __init__(self, clip_model: nn.Module, class_names: Sequence[str], n_ctx_text: int, n_ctx_vision: int,
                 depth_text: int, depth_vision: int, ctx_init: str) -> None:
        super().__init__()
        self.logit_scale = clip_model.logit_scale
        self.text_encoder = PromptedTextEncoder(clip_model, fast=True)
        self.image_encoder = PromptedVisionEncoder(clip_model)
        self.learner = nn.Module()
        self.learner.text_prompts = TextPromptLearner(clip_model, list(class_names), n_ctx_text, ctx_init, depth_text)
        self.learner.vision_prompts: Optional[VisionPromptLearner] = None
        if n_ctx_vision > 0:
            self.learner.vision_prompts = VisionPromptLearner(
                self.image_encoder.width, n_ctx_vision, depth_vision, self.image_encoder.num_layers
            )

    def prompted_text_features(self) -> Tensor:
        """Text features of every node, not normalised ``[K, D]``."""
        prompts = self.learner.text_prompts
        return self.text_encoder(prompts(), prompts.tokenized, prompts.deep_prompts(),
                                 shared_prefix=prompts.shared_prefix_length).float()

    def encode_images(self, images: Tensor, return_tokens: bool = False, include_prompt_tokens: bool = True):
        """Prompted image features ``[B, D]`` (and tokens ``[B, T, D]`` when asked)."""
        ctx, deep = (None, None) if self.learner.vision_prompts is None else self.learner.vision_prompts()
        return self.image_encoder(images, ctx, deep, return_tokens=return_tokens,
                                  include_prompt_tokens=include_prompt_tokens)

    def forward(self, images: Tensor) -> Tensor:
        text = self.cached("text", lambda: F.normalize(self.prompted_text_features(), dim=-1))
        image = F.normalize(self.encode_images(images).float(), dim=-1)
        return self.logit_scale.exp().float() * image @ text.t()
