"""MaPLe (Khattak et al., CVPR 2023) on a hierarchy: deep language prompts coupled to the vision branch.

The text branch has IVLP-style deep prompts (``N_CTX`` tokens in the first
``PROMPT_DEPTH`` layers); the vision prompts of every layer are a linear
projection of that layer's text prompts (:class:`~trainers.modules.prompt_coupling.PromptCoupling`),
so the vision branch has no prompt parameters of its own.

Deviations from the original (``trainers/maple.py`` of multimodal-prompt-learning):

* classes are all nodes of all levels, loss = per-level weighted CE;
* widths are read from the model (the original hard-codes 512 -> 768, ViT-B only);
* only the learner (text prompts + projections) is registered and checkpointed,
  not the whole CLIP; prompts and projections stay in float32.
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from dassl_compat import TRAINER_REGISTRY
from hierarchy import Hierarchy

from .base import HierarchicalCLIPTrainer
from .ivlp import DeepPromptCLIP
from .modules.prompt_coupling import PromptCoupling


class MaPLeModel(DeepPromptCLIP):
    r"""Deep text prompts :math:`P_0..P_{J-1}` and vision prompts :math:`V_i = F_i(P_i)`.

    Args:
        clip_model: frozen CLIP (ViT image tower).
        class_names: one name per node.
        n_ctx: prompt tokens per layer (shared by both branches).
        depth: number of prompted layers in each branch.
        ctx_init: initial text context.

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    def __init__(self, clip_model: nn.Module, class_names: list[str], n_ctx: int, depth: int, ctx_init: str) -> None:
        super().__init__(clip_model, class_names, n_ctx, 0, depth, 1, ctx_init)
        if depth > self.image_encoder.num_layers:
            raise ValueError(
                f"TRAINER.MAPLE.PROMPT_DEPTH={depth} exceeds the {self.image_encoder.num_layers} vision layers of this CLIP"
            )
        self.learner.coupling = PromptCoupling(self.text_encoder.width, self.image_encoder.width, depth)

    def vision_prompts(self) -> tuple[Tensor, Optional[Tensor]]:
        """The vision prompts of every layer, projected from the text prompts."""
        text = self.learner.text_prompts
        return self.learner.coupling(text.ctx, text.deep_prompts())

    def encode_images(self, images: Tensor, return_tokens: bool = False, include_prompt_tokens: bool = True):
        ctx, deep = self.vision_prompts()
        return self.image_encoder(images, ctx, deep, return_tokens=return_tokens,
                                  include_prompt_tokens=include_prompt_tokens)


@TRAINER_REGISTRY.register()
class MaPLe(HierarchicalCLIPTrainer):
    """Multi-modal prompt learning with per-level weighted cross-entropy."""

    CFG_KEY = "MAPLE"

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        return MaPLeModel(clip_model, list(hierarchy.node_names), c.N_CTX, c.PROMPT_DEPTH, c.CTX_INIT)
