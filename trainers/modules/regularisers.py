"""Loss terms of the baselines that regularise prompts towards the frozen CLIP (KgCoOp, PromptSRC).

Pure functions on tensors so that each term can be tested alone.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hierarchy import Hierarchy
from trainers.losses import hierarchical_cross_entropy


def cross_entropy_terms(
    logits: Tensor, labels: Tensor, hierarchy: Hierarchy, level_weights: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """The base trainers' loss (per-level weighted CE) and its logged terms, from given logits.

    Same values and names as ``HierarchicalCLIPTrainer.compute_loss``; used by
    trainers that need the model's other outputs as well as its logits.
    """
    loss, per_level = hierarchical_cross_entropy(logits, labels, hierarchy, level_weights)
    terms = {f"ce_{name}": value for name, value in zip(hierarchy.level_names, per_level)}
    finest = hierarchy.split_logits(logits)[-1]
    terms["acc"] = (finest.argmax(dim=1) == labels).float().mean() * 100
    return loss, terms


def knowledge_guidance_loss(learned: Tensor, handcrafted: Tensor) -> Tensor:
    r"""KgCoOp's :math:`\frac{1}{K}\sum_k \lVert \bar w_k - \bar w^{clip}_k\rVert_2^2`.

    Both inputs ``[K, D]`` are L2-normalised here, so the value lies in
    :math:`[0, 4]` and equals :math:`2\,(1 - \overline{\cos})`.
    """
    learned = F.normalize(learned.float(), dim=-1)
    handcrafted = F.normalize(handcrafted.float(), dim=-1).to(learned.device)
    return (learned - handcrafted).pow(2).sum(dim=-1).mean()


def level_kl_divergence(
    logits: Tensor, teacher_logits: Tensor, level_slices: Sequence[slice], level_weights: Tensor
) -> Tensor:
    r"""PromptSRC's logit distillation, one softmax per hierarchy level.

    For level :math:`l` with logits :math:`z_l` (student) and :math:`t_l`
    (zero-shot teacher), :math:`\mathrm{KL}_l = \sum_{b,k} p^t_{bk}(\log p^t_{bk}
    - \log p^z_{bk}) / (B\,K_l)` (PromptSRC's ``sum / numel`` reduction); the
    result is :math:`\sum_l w_l\,\mathrm{KL}_l` with the CE's level weights.
    """
    if logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ")
    weights = level_weights.to(logits.device)
    total = logits.new_zeros((), dtype=torch.float32)
    for level, part in enumerate(level_slices):
        student = F.log_softmax(logits[:, part].float(), dim=1)
        teacher = F.log_softmax(teacher_logits[:, part].float(), dim=1)
        kl = F.kl_div(student, teacher, reduction="sum", log_target=True) / student.numel()
        total = total + weights[level] * kl
    return total
