"""Samplers selected by name (``DATALOADER.*.SAMPLER``)."""
from __future__ import annotations

from typing import Sequence

from torch.utils.data import RandomSampler, Sampler, SequentialSampler

AVAI_SAMPLERS = ["RandomSampler", "SequentialSampler"]


def build_sampler(
    sampler_type: str,
    cfg=None,
    data_source: Sequence = (),
    batch_size: int = 32,
    n_domain: int = 0,
    n_ins: int = 16,
) -> Sampler:
    """Return the sampler named ``sampler_type`` over ``data_source``.

    Dassl's domain/class samplers (RandomDomainSampler, SeqDomainSampler,
    RandomClassSampler) serve DA/DG methods and are not provided.
    """
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    raise ValueError(f"Unknown sampler type: {sampler_type!r}; accepted: {AVAI_SAMPLERS}")
