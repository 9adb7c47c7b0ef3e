"""Training losses: the per-level weighted cross-entropy every trainer uses (HGCLIP Eq. 13) and the
regularisers of KgCoOp and PromptSRC. Pure functions on tensors, so each term is testable alone."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..hierarchy import Hierarchy


def resolve_level_weights(weights: Sequence[float], hierarchy: Hierarchy, key: str = "LEVEL_WEIGHTS",
                          allow_all_zero: bool = False) -> Tensor:
    """Per-level loss weights: ``weights`` as given, or the default.

    The default follows the official code: the finest level weighs 2, every other
    level 1, and the sum is divided by the number of levels, i.e.
    ``(CE_1 + ... + CE_{L-1} + 2 CE_L) / L``.
    """
    if len(weights) == 0:
        default = [1.0] * (hierarchy.num_levels - 1) + [2.0]
        return torch.tensor(default) / hierarchy.num_levels
    if len(weights) != hierarchy.num_levels:
        raise ValueError(
            f"{key} has {len(weights)} values but the hierarchy has {hierarchy.num_levels} levels "
            f"({' > '.join(hierarchy.level_names)})"
        )
    check_level_weight_values(weights, key, allow_all_zero)
    return torch.tensor([float(w) for w in weights])


def check_level_weight_values(weights: Sequence[float], key: str = "LEVEL_WEIGHTS", allow_all_zero: bool = False) -> None:
    """Every weight a finite number >= 0, and at least one > 0 (a negative weight rewards mistakes).

    ``allow_all_zero``: a ProTeCt loss is on, so all-zero weights are its exact objective (the tree-cut
    loss replacing the cross-entropy) rather than a run that learns nothing.
    """
    values = []
    for weight in weights:
        try:
            values.append(float(weight))
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a list of numbers, got {list(weights)!r}") from None
    if any(not math.isfinite(v) or v < 0 for v in values) or (
            values and not allow_all_zero and not any(v > 0 for v in values)):
        raise ValueError(f"{key} must hold finite weights >= 0 with at least one > 0 (all 0 only with a ProTeCt "
                         f"loss on, LOSS.PROTECT), got {list(weights)!r}")


def hierarchical_cross_entropy(
    logits: Tensor, leaf_labels: Tensor, hierarchy: Hierarchy, level_weights: Tensor
) -> tuple[Tensor, list[Tensor]]:
    """``sum_l w_l * CE(softmax over level l's slice, level-l target)``.

    Args:
        logits: all-node logits ``[B, num_nodes]`` in the hierarchy's global order.
        leaf_labels: ``[B]`` leaf labels.
        hierarchy: gives the level slices and the leaf -> ancestor table.
        level_weights: ``[num_levels]`` weights (see :func:`resolve_level_weights`).

    Returns:
        the total loss and the unweighted per-level losses (coarse -> fine).

    On an any-depth tree (the default CE for ragged trees) level ``l``'s term is the mean CE over
    the batch's samples whose true path reaches depth ``l + 1`` (0 when none does): a leaf at depth 2
    is a class of the depth-2 softmax and takes no part in the deeper ones.
    """
    targets = hierarchy.level_targets(leaf_labels)
    if getattr(hierarchy, "ragged", False):
        per_level = [_reached_cross_entropy(level_logits.float(), targets[:, level])
                     for level, level_logits in enumerate(hierarchy.split_logits(logits))]
    else:
        per_level = [
            F.cross_entropy(level_logits.float(), targets[:, level])
            for level, level_logits in enumerate(hierarchy.split_logits(logits))
        ]
    weights = level_weights.to(logits.device)
    total = sum(weights[level] * loss for level, loss in enumerate(per_level))
    return total, per_level


def _reached_cross_entropy(level_logits: Tensor, target: Tensor) -> Tensor:
    """Mean CE over the rows whose target is not -1 (a path that stops above the level); 0 without any."""
    if not bool((target >= 0).any()):
        return level_logits.sum() * 0.0  # keeps the graph (and the device) for the weighted sum
    return F.cross_entropy(level_logits, target, ignore_index=-1)


def cross_entropy_terms(
    logits: Tensor, labels: Tensor, hierarchy: Hierarchy, level_weights: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """The per-level weighted CE and the terms every trainer logs: ``ce_<level>`` and ``acc`` (finest top-1, %)."""
    loss, per_level = hierarchical_cross_entropy(logits, labels, hierarchy, level_weights)
    terms = {f"ce_{name}": value for name, value in zip(hierarchy.level_names, per_level)}
    finest = hierarchy.leaf_logits(logits)
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
