"""Numeric precision of the frozen CLIP: fp16, fp32 or amp, with a CPU fallback."""
from __future__ import annotations

import warnings

import torch
from torch import nn

PRECISIONS = ("fp16", "fp32", "amp")


def validate_precision(requested: str, key: str = "PREC") -> str:
    """``requested`` if it names a precision, else a one-line error naming the config ``key``."""
    if requested not in PRECISIONS:
        raise ValueError(f"{key} must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    return requested


def resolve_precision(requested: str, device: torch.device, key: str = "PREC") -> str:
    """The precision to run: ``requested``, except fp32 on a CPU (half convolutions are not implemented there).

    Emits one warning when it falls back.
    """
    validate_precision(requested, key)
    if requested != "fp32" and device.type != "cuda":
        warnings.warn(f"{key}={requested} needs CUDA; running in fp32 on {device.type}", stacklevel=2)
        return "fp32"
    return requested


def apply_precision(clip_model: nn.Module, precision: str) -> nn.Module:
    """Cast CLIP's weights for ``precision`` (fp16 = CLIP's own half conversion; otherwise fp32)."""
    if precision == "fp16":
        from .openai_clip import clip

        clip.model.convert_weights(clip_model)
        return clip_model
    return clip_model.float()
