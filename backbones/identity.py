"""What identifies a CLIP backbone's weights: a short fingerprint that changes whenever they do.

A checkpoint records it (so a prompt learner trained on one backbone is never evaluated on
another under its name) and HGCLIP's prototype cache key holds it.
"""
from __future__ import annotations

import hashlib

import torch


def backbone_fingerprint(clip_model: torch.nn.Module) -> str:
    """A short hash of the patch embedding and both projections (any other backbone differs in them)."""
    digest = hashlib.sha256()
    for tensor in (clip_model.visual.conv1.weight, clip_model.visual.proj, clip_model.text_projection):
        if tensor is not None:
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]
