"""VPT-deep on CLIP (as the VPT baseline of MaPLe's paper): learned vision prompts, frozen hand-crafted text.

Every node's text feature is CLIP's feature of ``"<CTX_INIT> <name>."``
("a photo of a <name>."), computed once at build time without gradient; the
only parameters are ``N_CTX_VISION`` prompt tokens in the first
``PROMPT_DEPTH_VISION`` vision layers.

Deviations from the original (``trainers/vpt.py`` of multimodal-prompt-learning):
classes are all nodes of all levels, loss = per-level weighted CE, and only the
vision prompts are registered and checkpointed (not the whole CLIP).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from backbones.prompted_clip import PromptedVisionEncoder
from dassl_compat import TRAINER_REGISTRY
from hierarchy import Hierarchy

from .base import HierarchicalCLIPTrainer
from .modules import VisionPromptLearner
from .modules.handcrafted import handcrafted_text_features


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

    def __init__(self, clip_model: nn.Module, class_names: list[str], n_ctx: int, depth: int,
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


@TRAINER_REGISTRY.register()
class VPT(HierarchicalCLIPTrainer):
    """Deep visual prompt tuning with per-level weighted cross-entropy."""

    CFG_KEY = "VPT"

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        return VPTModel(clip_model, list(hierarchy.node_names), c.N_CTX_VISION, c.PROMPT_DEPTH_VISION, c.CTX_INIT)
