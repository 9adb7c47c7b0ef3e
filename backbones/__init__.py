"""CLIP backbones: loading (OpenAI names, local files, embedded tiny CLIP) and
deep-prompt encoders that run on the unmodified ``clip.model.CLIP``."""
from .clip_loader import accepted_backbone_names, load_clip, local_backbone_names, register_local_backbone
from .prompted_clip import (
    DeepPrompts,
    PromptedTextEncoder,
    PromptedVisionEncoder,
    context_length,
    encode_text_plain,
    model_dtype,
    token_embedding,
)

__all__ = [
    "load_clip",
    "accepted_backbone_names",
    "local_backbone_names",
    "register_local_backbone",
    "PromptedTextEncoder",
    "PromptedVisionEncoder",
    "DeepPrompts",
    "context_length",
    "model_dtype",
    "token_embedding",
    "encode_text_plain",
]
