"""PromptSRC's model: IVLP prompts plus the frozen zero-shot CLIP as a teacher (same weights, no prompts)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..hierarchy import Hierarchy
from .deep_prompt import DeepPromptCLIP
from .handcrafted import handcrafted_text_features


@dataclass
class PromptSRCOutputs:
    """What the loss needs from one forward pass (features are L2-normalised)."""

    logits: Tensor  # [B, K] prompted
    text: Tensor  # [K, D] prompted
    image: Tensor  # [B, D] prompted
    zs_logits: Tensor  # [B, K] frozen CLIP
    zs_text: Tensor  # [K, D] frozen CLIP
    zs_image: Tensor  # [B, D] frozen CLIP


class PromptSRCModel(DeepPromptCLIP):
    """:class:`~hgclip.models.deep_prompt.DeepPromptCLIP` plus the frozen zero-shot teacher (same weights, no prompts).

    ``forward`` (inference) uses the prompted model only; :meth:`forward_train`
    also returns the teacher's features and logits.
    """

    def __init__(self, clip_model: nn.Module, hierarchy: Hierarchy, class_names: Sequence[str],
                 level_templates: list[list[str]],
                 n_ctx_text: int, n_ctx_vision: int, depth_text: int, depth_vision: int, ctx_init: str) -> None:
        super().__init__(clip_model, list(class_names), n_ctx_text, n_ctx_vision, depth_text,
                         depth_vision, ctx_init)
        templates = [level_templates[level] for level in hierarchy.node_levels]
        features = handcrafted_text_features(clip_model, list(class_names), templates)
        self.register_buffer("zs_text_features", features, persistent=False)

    def forward_train(self, images: Tensor) -> PromptSRCOutputs:
        scale = self.logit_scale.exp().float()
        text = F.normalize(self.prompted_text_features(), dim=-1)
        image = F.normalize(self.encode_images(images).float(), dim=-1)
        with torch.no_grad():
            zs_image = F.normalize(self.image_encoder(images).float(), dim=-1)
            zs_logits = scale * zs_image @ self.zs_text_features.t()
        return PromptSRCOutputs(scale * image @ text.t(), text, image, zs_logits, self.zs_text_features, zs_image)
