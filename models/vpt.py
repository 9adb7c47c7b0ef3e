"""VPT-deep's model: learned vision prompts, frozen text features of a hand-crafted prompt."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones.prompted_clip import PromptedVisionEncoder
from .handcrafted import handcrafted_text_features
from .vision_prompts import VisionPromptLearner


class VPTModel(nn.Module):
    r"""Frozen CLIP with deep vision prompts and fixed text features of hand-crafted prompts.

    Args:
        clip_model: frozen CLIP (ViT image tower).
        class_names: one name per node.
        n_ctx: vision prompt tokens per layer.
        depth: number of prompted vision layers.
        prompt_prefix: words before the class name in the text prompt.

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    def __init__(self, clip_model: nn.Module, class_names: Sequence[str], n_ctx: int, depth: int,
                 prompt_prefix: str = "a photo of a") -> None:
        super().__init__()
        self.logit_scale = clip_model.logit_scale
        self.image_encoder = PromptedVisionEncoder(clip_model)
        self.learner = nn.Module()
        self.learner.vision_prompts = VisionPromptLearner(self.image_encoder.width, n_ctx, depth,
                                                          self.image_encoder.num_layers)
        template = f"{' '.join(prompt_prefix.replace('_', ' ').split())} {{}}.".lstrip()
        features = handcrafted_text_features(clip_model, class_names, [[template]] * len(class_names))
        self.register_buffer("text_features", features, persistent=False)

    def encode_images(self, images: Tensor) -> Tensor:
        """Prompted image features ``[B, D]`` (not normalised)."""
        ctx, deep = self.learner.vision_prompts()
        return self.image_encoder(images, ctx, deep)

    def forward(self, images: Tensor) -> Tensor:
        image = F.normalize(self.encode_images(images).float(), dim=-1)
        return self.logit_scale.exp().float() * image @ self.text_features.t()
