"""CoCoOp's model on a hierarchy: image-conditional context for the prompts of every node."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones.prompted_clip import PromptedTextEncoder
from .meta_net import MetaNet
from .text_prompts import TextPromptLearner


class CoCoOpModel(nn.Module):
    r"""Frozen CLIP + :class:`TextPromptLearner` whose context is shifted per image by :class:`MetaNet`.

    For image :math:`x` with normalised feature :math:`\bar f(x)`, the prompt of
    node :math:`k` is :math:`[\mathrm{SOS}, v_1 + \pi, \dots, v_n + \pi, \mathrm{name}_k, .]`
    with :math:`\pi = \mathrm{MetaNet}(\bar f(x))`, and
    :math:`\mathrm{logit}_k = e^{s}\,\bar f(x)^\top \bar g_k(x)`.

    Args:
        clip_model: frozen CLIP.
        class_names: one name per node (every node is a class).
        n_ctx: learnable context tokens.
        ctx_init: initial context words ("" = random).

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)`.
    """

    prompts_per_pass = 4096

    def __init__(self, clip_model: nn.Module, class_names: Sequence[str], n_ctx: int, ctx_init: str) -> None:
        super().__init__()
        self.clip_model = clip_model
        self.text_encoder = PromptedTextEncoder(clip_model, fast=True)
        self.learner = nn.Module()
        self.learner.text_prompts = TextPromptLearner(clip_model, list(class_names), n_ctx, ctx_init, 1)
        image_dim = int(clip_model.visual.output_dim)
        self.learner.meta_net = MetaNet(image_dim, self.text_encoder.width)

    def image_features(self, images: Tensor) -> Tensor:
        """Normalised frozen image features ``[B, D]``."""
        with torch.no_grad():
            return F.normalize(self.clip_model.encode_image(images).float(), dim=-1)

    def text_features(self, ctx_shift: Tensor) -> Tensor:
        """Normalised per-image text features ``[B, K, D]`` for context shifts ``[B, d]``."""
        prompts = self.learner.text_prompts
        num_classes = prompts.num_classes
        chunk = max(1, self.prompts_per_pass // max(1, num_classes))
        outputs = []
        for start in range(0, ctx_shift.shape[0], chunk):
            embeddings = prompts(ctx_shift[start : start + chunk])  # [b, K, T, d]: one group per image
            features = self.text_encoder(embeddings, prompts.tokenized, shared_prefix=prompts.shared_prefix_length)
            outputs.append(features.float())  # [b, K, D]
        return F.normalize(torch.cat(outputs), dim=-1)

    def forward(self, images: Tensor, ctx_shift: Tensor | None = None) -> Tensor:
        """All-node logits; ``ctx_shift`` overrides the meta-net's output (for analysis and tests)."""
        image = self.image_features(images)
        shift = self.learner.meta_net(image) if ctx_shift is None else ctx_shift
        text = self.text_features(shift)
        return self.clip_model.logit_scale.exp().float() * torch.einsum("bd,bkd->bk", image, text)
