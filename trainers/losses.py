"""The hierarchical training loss: a weighted sum of per-level cross-entropies (HGCLIP Eq. 13)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hierarchy import Hierarchy


def resolve_level_weights(weights: Sequence[float], hierarchy: Hierarchy, key: str = "LEVEL_WEIGHTS") -> Tensor:
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
    return torch.tensor([float(w) for w in weights])


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
    """
    targets = hierarchy.level_targets(leaf_labels)
    per_level = [
        F.cross_entropy(level_logits.float(), targets[:, level])
        for level, level_logits in enumerate(hierarchy.split_logits(logits))
    ]
    weights = level_weights.to(logits.device)
    total = sum(weights[level] * loss for level, loss in enumerate(per_level))
    return total, per_level
