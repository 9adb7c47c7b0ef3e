"""KgCoOp's model: CoOp plus the frozen features of a hand-crafted prompt that anchor the learned ones."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .coop import CoOpModel
from .handcrafted import handcrafted_text_features


class KgCoOpModel(CoOpModel):
    """:class:`~hgclip.models.coop.CoOpModel` plus the frozen hand-crafted text features ``[K, D]``."""

    def __init__(self, clip_model: nn.Module, class_names: Sequence[str], n_ctx: int, ctx_init: str, csc: bool,
                 template: str) -> None:
        super().__init__(clip_model, class_names, n_ctx, ctx_init, csc)
        names = list(class_names)
        features = handcrafted_text_features(clip_model, names, [[template]] * len(names))
        self.register_buffer("handcrafted_features", features, persistent=False)

    def forward_with_text(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Logits ``[B, K]`` and the normalised learned text features ``[K, D]`` they were computed with."""
        with torch.no_grad():
            image = F.normalize(self.clip_model.encode_image(images).float(), dim=-1)
        text = self.text_features()
        return self.clip_model.logit_scale.exp().float() * image @ text.t(), text
