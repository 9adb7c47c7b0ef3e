"""Small randomly initialised CLIP models for tests and benchmarks (no weights needed)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["random_clip"]


def random_clip(
    embed_dim: int = 64,
    image_resolution: int = 32,
    vision_layers: int = 3,
    vision_width: int = 64,
    patch_size: int = 8,
    context_length: int = 77,
    vocab_size: int = 49408,
    text_width: int = 64,
    text_heads: int = 1,
    text_layers: int = 3,
    seed: int = 0,
) -> nn.Module:
    """A stock ``clip.model.CLIP`` (ViT image tower) with random weights, fp32, eval mode.

    ``vision_width`` must be a multiple of 64 (CLIP uses ``width // 64`` heads).
    Use ``text_heads = text_width // 64`` when the model will be saved and
    reloaded through ``clip.load`` (its ``build_model`` infers heads that way).
    """
    from .openai_clip import clip

    CLIP = clip.model.CLIP

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CLIP(
            embed_dim,
            image_resolution,
            vision_layers,
            vision_width,
            patch_size,
            context_length,
            vocab_size,
            text_width,
            text_heads,
            text_layers,
        )
    return model.float().eval()
