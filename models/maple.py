"""MaPLe's model on a hierarchy: deep language prompts whose projections are the vision prompts."""
from __future__ import annotations

from typing import Optional, Sequence

from torch import Tensor, nn

from .deep_prompt import DeepPromptCLIP
from .prompt_coupling import PromptCoupling


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

    def __init__(self, clip_model: nn.Module, class_names: Sequence[str], n_ctx: int, depth: int, ctx_init: str) -> None:
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
