r"""ProTeCt's training objectives (Wu, Ho & Vasconcelos, CVPR 2024), for any trainer's all-node logits.

ProTeCt makes a prompt-tuned CLIP right on label sets of any granularity. It adds two
terms to the classification loss; both read the model's all-node logits ``z`` (one
score per node of every level, each node prompted with its own name).

**Node-centric loss** (NCL). Every internal node :math:`n` -- the implicit root, whose
children are the coarsest level, and every node with children -- is a classifier over
its children. For a sample with true path :math:`(y^1, \dots, y^L)` and the internal
nodes on it :math:`(r, y^1, \dots, y^{L-1})`, the child target of node :math:`y^{l-1}`
is :math:`y^l`, and

.. math:: \mathrm{CE}_{i,l} = -z_{i,y^l} + \log \sum_{c \in \mathrm{children}(y^{l-1})} e^{z_{i,c}}.

As in ProTeCt's code, each internal node's loss is the mean over the batch samples
under it, and NCL is the mean over the internal nodes the batch reaches:
:math:`\mathrm{NCL} = \frac{1}{|N_B|} \sum_{n \in N_B} \frac{1}{c_n} \sum_{(i,l):\,y_i^{l-1}=n} \mathrm{CE}_{i,l}`,
with :math:`c_n` the number of samples under :math:`n`. Under DDP the counts are those
of the global batch, so two processes compute what one does.

**Dynamic tree-cut loss** (DTL). Each training step draws one random tree cut
(:mod:`hgclip.hierarchy.cuts`: each internal node is kept whole with probability
``DROP_RATE`` and expanded otherwise), maps each target leaf to its ancestor in the cut,
and takes the cross-entropy of a softmax over the cut's nodes, averaged over the batch.
A cut node's score is

* ``CUT_SCORES node`` (ProTeCt's code): the node's own logit, i.e. its own prompt;
* ``CUT_SCORES leaf_sum``: :math:`\log \sum_{\ell \in \mathrm{leaves}(n)} e^{z_\ell}`, so the
  cut's softmax is the finest level's softmax summed under each cut node.

The cut of a step is a function of the run's seed, the epoch and the step only, so every
process draws the same cut and a resumed run draws the cuts the uninterrupted one did.

The trainer's loss becomes ``CE_levels + NODE_WEIGHT * NCL + TREECUT_WEIGHT * DTL``
(``LOSS.PROTECT``; both weights 0 by default, i.e. off). ProTeCt's own recipe is
``NODE_WEIGHT 0.5``, ``TREECUT_WEIGHT 1.0``, ``DROP_RATE 0.1`` with the tree-cut loss REPLACING the
cross-entropy: ``LEVEL_CE False`` (or every ``LEVEL_WEIGHTS`` entry 0, allowed while a ProTeCt loss
is on), as ``configs/variants/ProTeCt.yaml`` sets. On an any-depth tree a sample's path stops at its
leaf: NCL averages over the (sample, node) pairs that exist, and cuts map each leaf to its cut node.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from ..hierarchy import Hierarchy
from ..hierarchy.cuts import cuts_from_expansion, draw_expansions, node_ancestors

__all__ = ["CUT_SCORES", "ProTeCtSettings", "ProTeCtLoss", "node_centric_loss", "tree_cut_loss", "sample_tree_cut"]

CUT_SCORES = ("node", "leaf_sum")

#: sums a tensor over the processes of a distributed run (identity in one process)
CountReducer = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class ProTeCtSettings:
    """``LOSS.PROTECT``: the two weights, the cut sampler's drop rate and how a cut node is scored."""

    node_weight: float = 0.0
    treecut_weight: float = 0.0
    drop_rate: float = 0.1
    cut_scores: str = "node"
    #: keep the per-level CE beside the ProTeCt losses; False = ProTeCt's exact objective (CE weights all 0)
    level_ce: bool = True

    @property
    def enabled(self) -> bool:
        return self.node_weight > 0 or self.treecut_weight > 0

    @classmethod
    def from_cfg(cls, node: Any, prefix: str = "LOSS.PROTECT") -> "ProTeCtSettings":
        """Read and check the config node; a bad value raises a one-line ``ValueError`` naming the key."""
        values = {}
        for key, field in (("NODE_WEIGHT", "node_weight"), ("TREECUT_WEIGHT", "treecut_weight")):
            value = float(node[key])
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{prefix}.{key} is {node[key]}: expected a finite weight >= 0 (0 = off)")
            values[field] = value
        rate = float(node.DROP_RATE)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{prefix}.DROP_RATE is {node.DROP_RATE}: expected a probability in [0, 1]")
        if node.CUT_SCORES not in CUT_SCORES:
            raise ValueError(f"{prefix}.CUT_SCORES is {node.CUT_SCORES!r}: expected one of {', '.join(CUT_SCORES)}")
        level_ce = node.get("LEVEL_CE", True) if hasattr(node, "get") else True
        if not isinstance(level_ce, bool):
            raise ValueError(f"{prefix}.LEVEL_CE is {level_ce!r}: expected True or False")
        return cls(drop_rate=rate, cut_scores=str(node.CUT_SCORES), level_ce=level_ce, **values)


def _identity(tensor: Tensor) -> Tensor:
    return tensor


def node_centric_loss(logits: Tensor, labels: Tensor, hierarchy: Hierarchy,
                      reduce_counts: Optional[CountReducer] = None) -> Tensor:
    """NCL of a batch (module docstring), scaled so that averaging it over processes gives the global value.

    Args:
        logits: all-node logits ``[B, num_nodes]``.
        labels: leaf labels ``[B]``.
        reduce_counts: sums the per-node sample counts (and the batch size) over the
            processes; ``None`` in one process. With it, the returned value is this
            process's share of the global NCL times ``global_batch / local_batch``, the
            form a batch-weighted gradient average expects.
    """
    reduce_counts = reduce_counts or _identity
    logits = logits.float()
    batch = logits.shape[0]
    path = hierarchy.ancestors_global.to(logits.device)[labels]  # [B, L]
    parents = torch.as_tensor(hierarchy.parents, device=logits.device)
    root = hierarchy.num_nodes  # the implicit root's id in the count table
    ragged = getattr(hierarchy, "ragged", False)  # a path stops at its leaf: no (sample, level) pair below it
    ce_terms, owners = [], []
    for level, part in enumerate(hierarchy.level_slices):
        target = path[:, level]
        if ragged:
            valid, target = target >= 0, target.clamp(min=0)
        parent = parents[target]  # -1 at the coarsest level: its classifier is the implicit root's
        siblings = parents[part][None, :] == parent[:, None]  # the children of the classifying node
        owner = parent if level else torch.full_like(target, root)
        scores = logits[:, part].masked_fill(~siblings, float("-inf"))
        term = torch.logsumexp(scores, dim=1) - logits.gather(1, target[:, None]).squeeze(1)
        if ragged:  # an absent pair adds nothing and is owned by a slot no count reads
            term, owner = torch.where(valid, term, 0.0), torch.where(valid, owner, root + 1)
        ce_terms.append(term)
        owners.append(owner)
    ce, owner = torch.stack(ce_terms, dim=1), torch.stack(owners, dim=1)  # [B, L]
    local = torch.cat([torch.bincount(owner.reshape(-1), minlength=root + 1).float()[: root + 1],
                       torch.tensor([float(batch)], device=logits.device)])
    counts = reduce_counts(local)
    node_counts, global_batch = counts[:-1], counts[-1]
    reached = (node_counts > 0).sum()
    if ragged:  # the slot of the absent pairs (their terms are 0)
        node_counts = torch.cat([node_counts, node_counts.new_ones(1)])
    per_pair = ce / node_counts[owner]
    return per_pair.sum() / reached * (global_batch / batch)


def sample_tree_cut(hierarchy: Hierarchy, drop_rate: float, seed: int,
                    tables: Optional[tuple[Tensor, Tensor]] = None) -> tuple[Tensor, Tensor]:
    """One random cut: its node mask ``[num_nodes]`` and each leaf's node in it ``[num_leaves]`` (global ids)."""
    table, ancestors = tables or (node_ancestors(hierarchy), hierarchy.ancestors_global.long())
    generator = torch.Generator().manual_seed(int(seed))
    masks, leaf_to_node = cuts_from_expansion(draw_expansions(hierarchy, drop_rate, 1, generator), table, ancestors)
    return masks[0], leaf_to_node[0]


def _grouped_logsumexp(values: Tensor, groups: Tensor, num_groups: int) -> Tensor:
    """``[B, num_groups]``: logsumexp of the columns of ``values`` ``[B, C]`` in each group (``groups`` ``[C]``)."""
    index = groups[None, :].expand_as(values)
    peak = values.new_full((values.shape[0], num_groups), float("-inf"))
    peak = peak.scatter_reduce(1, index, values, reduce="amax")
    safe_peak = peak.masked_fill(~torch.isfinite(peak), 0.0)
    total = values.new_zeros(values.shape[0], num_groups).scatter_add(1, index, (values - safe_peak.gather(1, index)).exp())
    return total.log() + safe_peak


def tree_cut_loss(logits: Tensor, labels: Tensor, hierarchy: Hierarchy, cut_mask: Tensor, leaf_to_node: Tensor,
                  cut_scores: str = "node") -> Tensor:
    """Mean cross-entropy of a softmax over the cut's nodes, each target leaf mapped to its node in the cut."""
    logits = logits.float()
    device = logits.device
    cut_nodes = torch.nonzero(cut_mask).flatten().to(device)  # ascending global ids
    position = torch.full((hierarchy.num_nodes,), -1, dtype=torch.long, device=device)
    position[cut_nodes] = torch.arange(cut_nodes.numel(), device=device)
    targets = position[leaf_to_node.to(device)[labels]]
    if cut_scores == "node":
        scores = logits[:, cut_nodes]
    elif cut_scores == "leaf_sum":
        leaf_logits = hierarchy.leaf_logits(logits)
        scores = _grouped_logsumexp(leaf_logits, position[leaf_to_node.to(device)], cut_nodes.numel())
    else:
        raise ValueError(f"cut_scores must be one of {', '.join(CUT_SCORES)}, got {cut_scores!r}")
    return torch.nn.functional.cross_entropy(scores, targets)


class ProTeCtLoss:
    """Both ProTeCt terms for one hierarchy, with the tables a step needs computed once."""

    def __init__(self, hierarchy: Hierarchy, settings: ProTeCtSettings) -> None:
        self.hierarchy, self.settings = hierarchy, settings
        self._tables = (node_ancestors(hierarchy), hierarchy.ancestors_global.long())

    def __call__(self, logits: Tensor, labels: Tensor, cut_seed: int,
                 reduce_counts: Optional[CountReducer] = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``NODE_WEIGHT * NCL + TREECUT_WEIGHT * DTL`` and the terms to log (``ncl``, ``dtl``)."""
        s = self.settings
        total = logits.new_zeros((), dtype=torch.float32)
        terms: dict[str, Tensor] = {}
        if s.node_weight > 0:
            terms["ncl"] = node_centric_loss(logits, labels, self.hierarchy, reduce_counts)
            total = total + s.node_weight * terms["ncl"]
        if s.treecut_weight > 0:
            mask, leaf_to_node = sample_tree_cut(self.hierarchy, s.drop_rate, cut_seed, self._tables)
            terms["dtl"] = tree_cut_loss(logits, labels, self.hierarchy, mask, leaf_to_node, s.cut_scores)
            total = total + s.treecut_weight * terms["dtl"]
        return total, terms
