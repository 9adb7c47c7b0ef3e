"""Numeric precision of a run (``TRAINER.<NAME>.PREC``): fp32, fp16, bf16 or amp, with a CPU fallback.

* ``fp32``: everything in float32.
* ``fp16``: the frozen CLIP's weights in float16 (CLIP's own ``convert_weights``), the learner in
  float32 (CUDA only: half convolutions are not implemented on the CPU).
* ``bf16``: CLIP's weights stay float32; the forward passes run under ``torch.autocast`` with
  bfloat16 (on the CPU and on CUDA); gradients reach the float32 learner.
* ``amp``: float32 weights, float16 autocast and a gradient scaler (CUDA only).

Node prototypes and the frozen hand-crafted text features (KgCoOp, VPT, PromptSRC's teacher,
ZeroshotCLIP, HGCLIP's surrogates) are computed once, outside autocast, with the frozen CLIP's
weights as cast here (float32, or float16 under ``fp16``) and accumulated in float32.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import ContextManager

import torch
from torch import nn

PRECISIONS = ("fp32", "fp16", "bf16", "amp")
CUDA_ONLY = ("fp16", "amp")


def validate_precision(requested: str, key: str = "PREC") -> str:
    """``requested`` if it names a precision, else a one-line error naming the config ``key``."""
    if requested not in PRECISIONS:
        raise ValueError(f"{key} must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    return requested


def resolve_precision(requested: str, device: torch.device, key: str = "PREC") -> str:
    """The precision to run: ``requested``, except fp32 for fp16/amp on a CPU (and bf16 on a GPU without it).

    Emits one warning when it falls back.
    """
    validate_precision(requested, key)
    if requested in CUDA_ONLY and device.type != "cuda":
        warnings.warn(f"{key}={requested} needs CUDA; running in fp32 on {device.type} (bf16 runs on the CPU)",
                      stacklevel=2)
        return "fp32"
    if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        warnings.warn(f"{key}=bf16: this GPU has no bfloat16 support; running in fp32", stacklevel=2)
        return "fp32"
    return requested


def apply_precision(clip_model: nn.Module, precision: str) -> nn.Module:
    """Cast CLIP's weights for ``precision`` (fp16 = CLIP's own half conversion; otherwise fp32)."""
    if precision == "fp16":
        from .openai_clip import clip

        clip.model.convert_weights(clip_model)
        return clip_model
    return clip_model.float()


def autocast(precision: str, device: torch.device) -> ContextManager:
    """The autocast context of the forward passes: bfloat16 for ``bf16``, float16 for ``amp``, none otherwise."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision == "amp":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()
