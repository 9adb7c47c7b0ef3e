"""Zero-shot CLIP per level: every node is scored with hand-crafted prompts."""
from __future__ import annotations

import clip
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from backbones.prompted_clip import encode_text_plain
from dassl_compat import TRAINER_REGISTRY
from hierarchy import Hierarchy

from .base import HierarchicalCLIPTrainer
from .templates import dataset_templates_path, load_level_templates


class ZeroshotCLIPModel(nn.Module):
    """Frozen CLIP with one template-ensembled text embedding per node.

    Shapes: images :math:`(B, 3, H, W)` -> logits :math:`(B, K)` over all nodes.
    """

    def __init__(self, clip_model: nn.Module, hierarchy: Hierarchy, level_templates: list[list[str]]) -> None:
        super().__init__()
        self.clip_model = clip_model
        self.learner = nn.Module()  # nothing to train
        context_length = int(clip_model.positional_embedding.shape[0])
        features = []
        with torch.no_grad():
            for node, name in enumerate(hierarchy.node_names):
                templates = level_templates[hierarchy.node_levels[node]]
                tokens = clip.tokenize([t.format(name) for t in templates], context_length=context_length)
                embedding = F.normalize(encode_text_plain(clip_model, tokens).float(), dim=-1).mean(dim=0)
                features.append(F.normalize(embedding, dim=-1))
        self.register_buffer("text_features", torch.stack(features), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        image_features = F.normalize(self.clip_model.encode_image(images).float(), dim=-1)
        return self.clip_model.logit_scale.exp().float() * image_features @ self.text_features.t()


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(HierarchicalCLIPTrainer):
    """Zero-shot CLIP on every level of the hierarchy (run it with ``--eval-only``)."""

    CFG_KEY = "ZEROSHOTCLIP"

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        path = dataset_templates_path(self.cfg, self.trainer_cfg.TEMPLATES_FILE)
        print(f"Zero-shot templates: {path}")
        return ZeroshotCLIPModel(clip_model, hierarchy, load_level_templates(path, hierarchy))

    def train(self, *args, **kwargs) -> None:  # noqa: D102 - nothing to learn
        print("ZeroshotCLIP has no parameters to train; evaluating instead")
        self.test()

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Nothing to load: the model is the frozen CLIP."""
