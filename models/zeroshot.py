"""Zero-shot CLIP over every node: one template-ensembled text embedding per node."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .handcrafted import handcrafted_text_features


class ZeroshotCLIPModel(nn.Module):
    """Frozen CLIP scoring every node with its hand-crafted prompts (nothing to train).

    Args:
        clip_model: frozen CLIP.
        class_names: one name per node.
        templates: ``templates[k]`` lists node ``k``'s templates (each with one ``{}``).

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)` over all nodes.
    """

    def __init__(self, clip_model: nn.Module, class_names: Sequence[str], templates: Sequence[Sequence[str]]) -> None:
        super().__init__()
        self.clip_model = clip_model
        self.learner = nn.Module()  # nothing to train
        features = handcrafted_text_features(clip_model, class_names, templates)
        self.register_buffer("text_features", features, persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        image_features = F.normalize(self.clip_model.encode_image(images).float(), dim=-1)
        return self.clip_model.logit_scale.exp().float() * image_features @ self.text_features.t()
