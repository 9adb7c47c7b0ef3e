"""Tree cuts of a :class:`~hgclip.hierarchy.Hierarchy`: label sets of mixed granularity.

A tree cut is a set of nodes that covers every leaf exactly once, e.g.
``{animal, car, truck}``. Both ProTeCt's dynamic tree-cut loss (training) and its mean
tree-cut accuracy (evaluation) draw cuts the same way: every internal node is
independently EXPANDED (replaced by its children) with probability ``1 - drop_rate``;
the implicit root always is. A node is in the cut when all its ancestors are expanded
and it is not; leaves are never expanded. The two users share these primitives so that
a cut means one thing in the whole project.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .tree import Hierarchy

__all__ = ["node_ancestors", "internal_node_mask", "draw_expansions", "cuts_from_expansion"]


def node_ancestors(hierarchy: "Hierarchy") -> torch.Tensor:
    """Long ``[num_nodes, num_levels]``: global id of each node's ancestor at every level, -1 below the node.

    Any-depth trees too: a leaf's row is its path, padded with -1 below it.

    Column ``level(n)`` is ``n`` itself; columns above it are its ancestors (root excluded).
    Read off the path of any leaf under the node, so it costs O(num_nodes * L).
    """
    ancestors = torch.as_tensor(hierarchy.ancestors_global).long()  # [num_leaves, L]
    num_leaves, num_levels = ancestors.shape
    leaves = torch.arange(num_leaves).repeat_interleave(num_levels)
    first_leaf = torch.full((hierarchy.num_nodes,), num_leaves, dtype=torch.long)
    if getattr(hierarchy, "ragged", False):  # -1 pads a path below its leaf
        valid = ancestors.reshape(-1) >= 0
        first_leaf.scatter_reduce_(0, ancestors.reshape(-1)[valid], leaves[valid], reduce="amin")
    else:
        first_leaf.scatter_reduce_(0, ancestors.reshape(-1), leaves, reduce="amin")
    table = ancestors[first_leaf]  # [num_nodes, L]
    node_level = torch.as_tensor(hierarchy.node_levels, dtype=torch.long)
    below = torch.arange(num_levels)[None, :] > node_level[:, None]
    return table.masked_fill(below, -1)


def internal_node_mask(hierarchy: "Hierarchy") -> torch.Tensor:
    """Bool ``[num_nodes]``: the node has children (it can be expanded)."""
    return torch.tensor([bool(children) for children in hierarchy.children], dtype=torch.bool)


def draw_expansions(hierarchy: "Hierarchy", drop_rate: float, count: int, generator: torch.Generator) -> torch.Tensor:
    """Bool ``[count, num_nodes]``: which internal nodes each of ``count`` cuts expands (probability ``1 - drop_rate``)."""
    uniform = torch.rand(count, hierarchy.num_nodes, generator=generator)
    return (uniform >= drop_rate) & internal_node_mask(hierarchy)[None, :]


def cuts_from_expansion(expand: torch.Tensor, table: torch.Tensor, ancestors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut masks ``[C, num_nodes]`` and leaf maps ``[C, num_leaves]`` (global id of each leaf's node in the cut).

    Args:
        expand: bool ``[C, num_nodes]`` expansion draws (:func:`draw_expansions`).
        table: :func:`node_ancestors` of the hierarchy.
        ancestors: the hierarchy's ``ancestors_global`` ``[num_leaves, L]``.
    """
    num_levels = table.shape[1]
    node_level = (table >= 0).sum(dim=1) - 1  # [num_nodes]
    strict = torch.arange(num_levels)[None, :] < node_level[:, None]  # ancestor columns above the node
    anc_expanded = expand[:, table.clamp(min=0)]  # [C, num_nodes, L]
    reachable = (anc_expanded | ~strict[None]).all(dim=2)
    masks = reachable & ~expand
    on_path = ~expand[:, ancestors]  # [C, num_leaves, L]: not expanded along each leaf's path
    if bool((ancestors < 0).any()):  # an any-depth tree: a path's padding never holds the cut
        on_path = ~expand[:, ancestors.clamp(min=0)] | (ancestors < 0)[None]
    stop = on_path.to(torch.int8).argmax(dim=2)  # first level where the path is cut (leaves never expand)
    leaf_to_node = ancestors[torch.arange(ancestors.shape[0])[None, :], stop]
    return masks, leaf_to_node
