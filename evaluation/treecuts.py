"""Random tree cuts and mean tree-cut accuracy (MTA), as ProTeCt (CVPR 2024) evaluates them.

A tree cut is a set of nodes that covers every leaf exactly once (an antichain of the
tree, the implicit root excluded): a label set of mixed granularity such as
``{animal, car, truck}``. For each cut, a flat classifier over the cut's nodes is scored
with the model's ALL-NODE logits restricted to those nodes, and every leaf target is
mapped to its unique ancestor in the cut. MTA is the mean accuracy over a fixed set of
cuts, so it measures whether a model's scores stay right when the label set mixes
levels. It does not depend on ``TEST.DECODING``: it reads the model's own node scores.

Sampling (:func:`sample_tree_cuts`), seeded and independent of the training seed so
that every run, trainer and decoder is scored on the same cuts:

* each cut gets a "drop" rate from :data:`DROP_RATES` (the cuts are split into equal
  consecutive blocks, one block per rate, finest-first as ProTeCt's ``--multi`` set);
* every internal node is independently EXPANDED (replaced by its children) with
  probability ``1 - rate``; the root always is. A node is in the cut when all its
  ancestors are expanded and it is not (leaves are never expanded);
* a cut equal to an earlier one is redrawn (up to :data:`MAX_DRAWS` draws); when a
  small tree has no new cut left, fewer cuts are kept and the number is recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import torch

from ..hierarchy.cuts import cuts_from_expansion, draw_expansions, node_ancestors

if TYPE_CHECKING:
    from ..hierarchy import Hierarchy

__all__ = [
    "DROP_RATES",
    "MAX_DRAWS",
    "TreeCuts",
    "sample_tree_cuts",
    "tree_cuts_from_nodes",
    "rank_keys",
    "treecut_correct",
    "treecut_accuracies",
]

DROP_RATES = (0.9, 0.7, 0.5, 0.3, 0.1)  # probability that an internal node is NOT expanded
MAX_DRAWS = 256  # draws per cut before concluding the tree has no new cut left
_CHUNK = 64  # candidate cuts drawn at once
_OUTRANK_BUDGET = 1 << 22  # elements of the [rows, L, num_nodes] outrank mask held at once (4 MiB of bools)


@dataclass(frozen=True)
class TreeCuts:
    """A fixed set of tree cuts of one hierarchy, with the index tables :func:`treecut_correct` uses.

    Attributes:
        masks: bool ``[T, num_nodes]``, node n is in cut t.
        leaf_to_node: long ``[T, num_leaves]``, global id of each leaf's ancestor in cut t.
        rates: the drop rate each cut was drawn with.
        requested: how many cuts were asked for; ``T <= requested`` on small trees.
        seed: the sampling seed.
        cut_levels: long ``[T, num_leaves]``, the level of ``leaf_to_node`` (which node of
            the leaf's path cut t uses).
        internal: long ``[I]``, global ids of the internal (non-leaf) nodes.
        leaf_group: long ``[num_leaves]``, the sibling group (0..G-1) of each leaf. Siblings
            enter a cut together -- their parent is either expanded or not -- so a group
            can be scored by its best leaf.
        item_masks: float ``[I + G, T]``, membership of each internal node, then each group.
    """

    masks: torch.Tensor
    leaf_to_node: torch.Tensor
    rates: tuple[float, ...]
    requested: int
    seed: int
    cut_levels: torch.Tensor
    internal: torch.Tensor
    leaf_group: torch.Tensor
    item_masks: torch.Tensor

    @property
    def num_cuts(self) -> int:
        return int(self.masks.shape[0])

    @property
    def sizes(self) -> list[int]:
        return self.masks.sum(dim=1).tolist()


def _index_tables(hierarchy: "Hierarchy", masks: torch.Tensor, leaf_to_node: torch.Tensor) -> dict:
    """The derived tables of :class:`TreeCuts` (see its docstring)."""
    node_level = torch.as_tensor(hierarchy.node_levels, dtype=torch.long)
    if getattr(hierarchy, "ragged", False):  # leaves sit at several levels: index them by id
        leaf_ids = torch.tensor(hierarchy.leaf_nodes, dtype=torch.long)
        internal = torch.tensor([n for n, kids in enumerate(hierarchy.children) if kids], dtype=torch.long)
        parents = torch.tensor([hierarchy.parents[n] for n in hierarchy.leaf_nodes], dtype=torch.long)
    else:
        leaf_offset = hierarchy.level_offsets[-1]
        leaf_ids = leaf_offset + torch.arange(hierarchy.num_leaves)
        internal = torch.arange(leaf_offset)
        parents = torch.tensor(hierarchy.parents[leaf_offset:], dtype=torch.long)  # -1 for a one-level tree
    groups, leaf_group = torch.unique(parents, return_inverse=True)
    first_leaf = torch.full((len(groups),), hierarchy.num_leaves, dtype=torch.long)
    first_leaf.scatter_reduce_(0, leaf_group, torch.arange(hierarchy.num_leaves), reduce="amin")
    item_masks = torch.cat([masks[:, internal], masks[:, leaf_ids[first_leaf]]], dim=1).T.float()
    return {"cut_levels": node_level[leaf_to_node], "internal": internal, "leaf_group": leaf_group,
            "item_masks": item_masks}


def sample_tree_cuts(hierarchy: "Hierarchy", num_cuts: int = 25, seed: int = 0) -> TreeCuts:
    """Draw ``num_cuts`` distinct random tree cuts of ``hierarchy`` (see the module docstring)."""
    if num_cuts < 0:
        raise ValueError(f"TEST.TREE_CUTS.NUM: expected a number of cuts >= 0, got {num_cuts}")
    table = node_ancestors(hierarchy)
    ancestors = torch.as_tensor(hierarchy.ancestors_global).long()
    generator = torch.Generator().manual_seed(int(seed))
    seen: set[bytes] = set()
    masks, maps, rates = [], [], []
    for t in range(num_cuts):
        rate = DROP_RATES[t * len(DROP_RATES) // num_cuts]
        for _ in range(0, MAX_DRAWS, _CHUNK):
            expand = draw_expansions(hierarchy, rate, _CHUNK, generator)
            chunk_masks, chunk_maps = cuts_from_expansion(expand, table, ancestors)
            fresh = next((i for i, m in enumerate(chunk_masks) if m.numpy().tobytes() not in seen), None)
            if fresh is not None:
                seen.add(chunk_masks[fresh].numpy().tobytes())
                masks.append(chunk_masks[fresh])
                maps.append(chunk_maps[fresh])
                rates.append(rate)
                break
    masks = torch.stack(masks) if masks else torch.zeros(0, hierarchy.num_nodes, dtype=torch.bool)
    maps = torch.stack(maps) if maps else torch.zeros(0, hierarchy.num_leaves, dtype=torch.long)
    return TreeCuts(masks=masks, leaf_to_node=maps, rates=tuple(rates), requested=num_cuts, seed=int(seed),
                    **_index_tables(hierarchy, masks, maps))


def tree_cuts_from_nodes(hierarchy: "Hierarchy", cuts: Sequence[Sequence[int]], seed: int = -1) -> TreeCuts:
    """:class:`TreeCuts` from explicit node sets (global ids), e.g. a published cut list or a test's.

    Raises a one-line ``ValueError`` when a set does not cover every leaf exactly once.
    """
    incidence = hierarchy.node_leaf_incidence()  # [num_nodes, num_leaves]
    masks = torch.zeros(len(cuts), hierarchy.num_nodes, dtype=torch.bool)
    for t, nodes in enumerate(cuts):
        nodes = torch.as_tensor(list(nodes), dtype=torch.long)
        if nodes.numel() and (nodes.min() < 0 or nodes.max() >= hierarchy.num_nodes):
            raise ValueError(f"tree cut {t}: node ids must lie in 0..{hierarchy.num_nodes - 1}")
        masks[t, nodes] = True
        cover = incidence[masks[t]].sum(dim=0)
        bad = torch.nonzero(cover != 1).flatten()
        if bad.numel():
            leaf = int(bad[0])
            raise ValueError(f"tree cut {t}: leaf {hierarchy.leaf_names[leaf]!r} is covered {int(cover[leaf])} "
                             f"times; a cut must cover every leaf exactly once")
    leaf_to_node = (incidence[None] & masks[:, :, None]).to(torch.int8).argmax(dim=1)  # [T, num_leaves]
    return TreeCuts(masks=masks, leaf_to_node=leaf_to_node, rates=(), requested=len(cuts), seed=seed,
                    **_index_tables(hierarchy, masks, leaf_to_node))


def rank_keys(scores: torch.Tensor) -> torch.Tensor:
    """Int64 keys ``[N, K]`` that order each row like ``argmax`` does: by score, ties to the lowest index.

    The float32 bits are mapped to integers of the same order (negative values have
    their magnitude bits flipped; -0.0 becomes +0.0 first), then the index is packed
    below them, so every key of a row is distinct and ``key_a > key_b`` exactly when a
    wins over b. NaN is mapped to -inf first: it never wins.
    """
    x = scores.float().nan_to_num(nan=float("-inf"), posinf=float("inf"), neginf=float("-inf")) + 0.0
    bits = x.view(torch.int32)
    ordered = (bits ^ ((bits >> 31) & 0x7FFFFFFF)).long()
    width = scores.shape[1]
    return ordered * width + (width - 1 - torch.arange(width))


def treecut_correct(logits: Any, leaf_labels: Any, cuts: TreeCuts, hierarchy: "Hierarchy") -> torch.Tensor:
    """Bool ``[N, T]``: does the flat classifier over cut t's nodes pick the target's cut node?

    ``logits`` are all-node scores ``[N, num_nodes]`` in global node order. The argmax
    is over the cut's nodes only, ties going to the lowest global id (as ``torch.argmax``
    over the cut's nodes in ascending order); a target scored -inf or NaN never counts.

    Computed without one gather per cut: the target's node in any cut is one of the
    L nodes on its true path, so for each path node c the cut members that OUTRANK it
    are marked once (:func:`rank_keys`), and one matrix product with the cut masks
    counts, for every cut, the members that outrank c. Sample i is right on cut t when
    that count is 0 for the path node cut t uses. The members are the internal nodes
    and the sibling groups of leaves (scored by their best leaf), which is exact
    because siblings enter a cut together. Rows are processed in chunks, so memory
    stays O(chunk * L * (internal nodes + groups)) whatever N is.
    """
    scores = torch.as_tensor(logits).detach().cpu()
    labels = torch.as_tensor(leaf_labels).long()
    num_nodes = cuts.masks.shape[1]
    if scores.dim() != 2 or scores.shape[1] != num_nodes:
        raise ValueError(f"logits: expected shape [N, {num_nodes}], got {tuple(scores.shape)}")
    if cuts.num_cuts == 0 or scores.shape[0] == 0:
        return torch.zeros(scores.shape[0], cuts.num_cuts, dtype=torch.bool)
    path = torch.as_tensor(hierarchy.ancestors_global).long()[labels]  # [N, L] global ids of the true path
    num_levels = path.shape[1]
    which = cuts.cut_levels[:, labels].T  # [N, T]: the level of the path node each cut uses
    num_items, num_groups = cuts.item_masks.shape[0], int(cuts.leaf_group.max()) + 1
    if getattr(hierarchy, "ragged", False):  # any depth: leaves by id; a path's -1 padding is never used
        leaf_cols = torch.tensor(hierarchy.leaf_nodes, dtype=torch.long)
        path = path.clamp(min=0)
    else:
        leaf_cols = slice(hierarchy.level_offsets[-1], None)
    chunk = max(1, _OUTRANK_BUDGET // (num_levels * num_items))
    out = []
    for start in range(0, scores.shape[0], chunk):
        rows = slice(start, start + chunk)
        x, c = scores[rows], path[rows]
        keys = rank_keys(x)
        groups = keys.new_full((x.shape[0], num_groups), torch.iinfo(torch.long).min)
        groups.scatter_reduce_(1, cuts.leaf_group.expand(x.shape[0], -1), keys[:, leaf_cols], reduce="amax")
        items = torch.cat([keys[:, cuts.internal], groups], dim=1)  # [n, I + G]
        outrank = items[:, None, :] > keys.gather(1, c)[:, :, None]  # [n, L, I + G]
        counts = (outrank.view(-1, num_items).float() @ cuts.item_masks).view(x.shape[0], num_levels, -1)
        used = counts.gather(1, which[rows, None, :]).squeeze(1)  # [n, T]
        finite = (x.gather(1, c) > float("-inf")).gather(1, which[rows])
        out.append((used == 0) & finite)
    return torch.cat(out)


def treecut_accuracies(logits: Any, leaf_labels: Any, cuts: TreeCuts, hierarchy: "Hierarchy") -> torch.Tensor:
    """Accuracy of each cut (fractions, float64 ``[T]``); MTA is their mean."""
    correct = treecut_correct(logits, leaf_labels, cuts, hierarchy)
    return correct.double().mean(dim=0) if correct.shape[0] else torch.zeros(cuts.num_cuts, dtype=torch.float64)
