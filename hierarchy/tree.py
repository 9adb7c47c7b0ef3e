"""The :class:`Hierarchy` type: a class taxonomy from which every index is derived.

HGCLIP treats every node of every level as a class. The official code hard-codes
per-dataset slices such as ``[:20]`` / ``[20:]``; here one object derives the
global node order, the per-level slices, the ancestor tables and the graph from
the tree itself, so no module needs to know which dataset it runs on.

Conventions
-----------
* Levels are named and ordered coarse -> fine. In a fixed-level tree every path has one
  node per level, so every leaf sits at the finest level. In an ANY-DEPTH tree
  (``any_depth=True``, the file header ``levels: any``) leaves may sit at any depth: the
  levels are the depths 1..D (D the deepest leaf), named ``depth1``..``depthD``, and a
  leaf's path has entries only down to its own depth (tables pad the rest with -1).
* A node is identified by ``(level, name)``: the same name may appear at two levels.
* Global node order: all nodes of level 0, then level 1, ...; within a level, the
  order of first appearance in the paths. Leaf order = path order = label order.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

import torch

from .names import NAME_STYLES, normalize_classname, official_prompt_name

EDGE_DIRECTIONS = ("both", "parent_to_child", "child_to_parent")


class HierarchyError(ValueError):
    """A set of paths does not describe a valid hierarchy."""


@dataclass(frozen=True)
class PathError:
    """The first problem found in a list of paths, with the offending path's index."""

    path_index: int
    message: str


ANY_DEPTH = "any"  # the ``levels:`` header value of a tree whose leaves sit at any depth


def depth_level_names(depth: int) -> tuple[str, ...]:
    """The level names of an any-depth tree whose deepest leaf sits at ``depth``: ``depth1``..``depth<D>``."""
    return tuple(f"depth{d}" for d in range(1, depth + 1))


def find_path_error(level_names: Sequence[str], paths: Sequence[Sequence[str]],
                    any_depth: bool = False) -> Optional[PathError]:
    """Return the first problem in ``paths`` (already normalised), or ``None``.

    Shared by :class:`Hierarchy` and the file loader, so that a file error can
    name the line of the path at fault. With ``any_depth`` paths may have any length
    (``level_names`` is then ignored), and no leaf may be an inner node of another path.
    """
    if any_depth:
        level_names = depth_level_names(max((len(path) for path in paths), default=0))
    num_levels = len(level_names)
    seen_parent: list[dict[str, str]] = [dict() for _ in range(num_levels)]
    inner: set[tuple[int, str]] = set()
    leaves: dict[tuple[int, str], int] = {}
    for index, path in enumerate(paths):
        if any_depth and not path:
            return PathError(index, "an empty path")
        if not any_depth and len(path) != num_levels:
            return PathError(
                index, f"expected {num_levels} names ({' > '.join(level_names)}), got {len(path)}"
            )
        for level, name in enumerate(path):
            if not name:
                return PathError(index, f"empty name at level {level + 1} ({level_names[level]})")
        leaf = path[-1]
        if (not any_depth and leaf in seen_parent[-1]) or (any_depth and (len(path), leaf) in leaves):
            return PathError(index, f"duplicate leaf {leaf!r}")
        if any_depth:
            if (len(path), leaf) in inner:
                return PathError(index, f"leaf {leaf!r} at depth {len(path)} is an inner node of an earlier path")
            for depth, name in enumerate(path[:-1], start=1):
                if (depth, name) in leaves:
                    return PathError(index, f"node {name!r} at depth {depth} is a leaf of path {leaves[depth, name] + 1}")
                inner.add((depth, name))
            leaves[len(path), leaf] = index
        for level, name in enumerate(path):
            parent = path[level - 1] if level else ""
            known = seen_parent[level].get(name)
            if known is not None and known != parent:
                return PathError(
                    index,
                    f"node {name!r} at level {level_names[level]!r} has two parents: {known!r} and {parent!r}",
                )
            seen_parent[level][name] = parent
    return None


class Hierarchy:
    """A multi-level class tree (coarse -> fine) with every derived index table.

    Args:
        level_names: names of the levels, coarse -> fine (e.g. ``("maker", "family", "variant")``).
        paths: one root-to-leaf sequence of node names per leaf, coarse -> fine. The
            order of the paths is the leaf (label) order. Names are normalised with
            :func:`normalize_classname` (nodes are identified by the normalised name);
            the spelling as given is kept too (:attr:`raw_node_names`), for code that
            must reproduce another implementation's prompts exactly.
        prompt_spellings: leaf (normalised name) -> the spelling its prompts use, where that is not
            the name that identifies the leaf. ImageNet's two "missile" classes are two leaves told
            apart by their WordNet synonyms, and both are prompted "missile", as CLIP and CoOp do.
            Kept by :meth:`restrict`; the tree, :meth:`digest` and equality do not depend on it.

    Raises:
        HierarchyError: ragged paths, empty names, duplicate leaves, a node with two
            parents, no levels or no paths.
    """

    def __init__(self, level_names: Sequence[str], paths: Iterable[Sequence[str]],
                 prompt_spellings: Optional[Mapping[str, str]] = None, *, any_depth: bool = False,
                 rank_names: Sequence[str] = (), node_ranks: Optional[Mapping[tuple[int, str], str]] = None):
        raw_paths = tuple(tuple(str(name).strip() for name in path) for path in paths)
        paths = tuple(tuple(normalize_classname(name) for name in path) for path in raw_paths)
        #: leaves may sit at any depth; the levels are the depths (``levels: any``)
        self.any_depth: bool = bool(any_depth)
        if self.any_depth:
            level_names = depth_level_names(max((len(path) for path in paths), default=0))
        level_names = tuple(str(name).strip() for name in level_names)
        if not level_names or any(not name for name in level_names):
            raise HierarchyError("a hierarchy needs at least one level and non-empty level names")
        if len(set(level_names)) != len(level_names):
            raise HierarchyError(f"duplicate level names in {list(level_names)}")
        if not paths:
            raise HierarchyError("a hierarchy needs at least one root-to-leaf path")
        error = find_path_error(level_names, paths, self.any_depth)
        if error is not None:
            raise HierarchyError(f"path {error.path_index + 1} ({' > '.join(paths[error.path_index])}): {error.message}")

        self.level_names: tuple[str, ...] = level_names
        self.paths: tuple[tuple[str, ...], ...] = paths
        self.raw_paths: tuple[tuple[str, ...], ...] = raw_paths
        spellings = {normalize_classname(str(leaf)): str(text).strip() for leaf, text in (prompt_spellings or {}).items()}
        unknown = sorted(set(spellings) - {path[-1] for path in paths})
        if unknown:
            raise HierarchyError(f"prompt spellings given for names that are not leaves: {unknown[:5]}")
        if any(not text for text in spellings.values()):
            raise HierarchyError("an empty prompt spelling")
        #: leaf (normalised name) -> the spelling its prompts use instead of the name as written
        self.prompt_spellings: dict[str, str] = spellings
        self._build_tables()
        self._set_ranks(rank_names, node_ranks or {})

    # ------------------------------------------------------------------ construction
    def _build_tables(self) -> None:
        num_levels = len(self.level_names)
        local_index: list[dict[str, int]] = [dict() for _ in range(num_levels)]
        names: list[list[str]] = [[] for _ in range(num_levels)]
        parent_local: list[list[int]] = [[] for _ in range(num_levels)]
        raw: list[list[str]] = [[] for _ in range(num_levels)]
        for path, raw_path in zip(self.paths, self.raw_paths):
            for level, name in enumerate(path):
                if name not in local_index[level]:
                    local_index[level][name] = len(names[level])
                    names[level].append(name)
                    last = level == len(path) - 1
                    raw[level].append(self.prompt_spellings.get(name, raw_path[level]) if last else raw_path[level])
                    parent_local[level].append(local_index[level - 1][path[level - 1]] if level else -1)

        self.level_sizes: tuple[int, ...] = tuple(len(level) for level in names)
        offsets, total = [], 0
        for size in self.level_sizes:
            offsets.append(total)
            total += size
        self.level_offsets: tuple[int, ...] = tuple(offsets)
        self.level_slices: tuple[slice, ...] = tuple(
            slice(start, start + size) for start, size in zip(self.level_offsets, self.level_sizes)
        )
        self.num_levels: int = num_levels
        self.num_nodes: int = total
        self.num_leaves: int = len(self.paths)
        self._names_by_level = tuple(tuple(level) for level in names)
        self.node_names: tuple[str, ...] = tuple(name for level in names for name in level)
        #: each node's name as first written (before normalisation), e.g. ``large_man-made_outdoor_things``;
        #: for a leaf with a :attr:`prompt_spellings` entry, that spelling
        self.raw_node_names: tuple[str, ...] = tuple(name for level in raw for name in level)
        self.node_levels: tuple[int, ...] = tuple(
            level for level, size in enumerate(self.level_sizes) for _ in range(size)
        )
        self.parents: tuple[int, ...] = tuple(
            (self.level_offsets[level - 1] + parent) if parent >= 0 else -1
            for level, parents in enumerate(parent_local)
            for parent in parents
        )
        children: list[list[int]] = [[] for _ in range(total)]
        for node, parent in enumerate(self.parents):
            if parent >= 0:
                children[parent].append(node)
        self.children: tuple[tuple[int, ...], ...] = tuple(tuple(c) for c in children)
        pad = [[-1] * (num_levels - len(path)) for path in self.paths]
        self.ancestors: torch.Tensor = torch.tensor(
            [[local_index[level][name] for level, name in enumerate(path)] + rest for path, rest in zip(self.paths, pad)],
            dtype=torch.long,
        )
        #: level (depth - 1) of each leaf, in leaf order
        self.leaf_levels: tuple[int, ...] = tuple(len(path) - 1 for path in self.paths)
        #: some leaf sits above the finest level (only possible with :attr:`any_depth`)
        self.ragged: bool = any(level != num_levels - 1 for level in self.leaf_levels)
        if self.ragged:
            offsets_row = torch.tensor(self.level_offsets, dtype=torch.long)
            self.ancestors_global: torch.Tensor = torch.where(self.ancestors >= 0, self.ancestors + offsets_row, -1)
        else:
            self.ancestors_global = self.ancestors + torch.tensor(self.level_offsets, dtype=torch.long)
        #: global id of each leaf, in leaf order (for a fixed-level tree: the finest level's slice)
        self.leaf_nodes: tuple[int, ...] = tuple(
            self.level_offsets[len(path) - 1] + local_index[len(path) - 1][path[-1]] for path in self.paths
        )
        heights = [0] * total
        for node in range(total - 1, -1, -1):  # children follow their parent in node order
            parent = self.parents[node]
            if parent >= 0:
                heights[parent] = max(heights[parent], heights[node] + 1)
        #: height of each node: the longest path down from it to a leaf (0 for a leaf)
        self.node_heights: tuple[int, ...] = tuple(heights)

    # ------------------------------------------------------------------ names
    @property
    def leaf_names(self) -> tuple[str, ...]:
        if self.ragged:
            return tuple(self.node_names[node] for node in self.leaf_nodes)
        return self._names_by_level[-1]

    @property
    def max_depth(self) -> int:
        """Depth of the deepest leaf (the implicit root has depth 0): the number of levels."""
        return self.num_levels

    # ------------------------------------------------------------------ ranks
    def _set_ranks(self, rank_names: Sequence[str], node_ranks: Mapping[tuple[int, str], str]) -> None:
        """Keep the optional rank names (coarse -> fine) and each node's rank; ranks rise strictly along a path."""
        ranks = tuple(str(name).strip() for name in rank_names)
        if len(set(ranks)) != len(ranks) or any(not name for name in ranks):
            raise HierarchyError(f"rank names must be distinct and non-empty, got {list(ranks)}")
        order = {name: index for index, name in enumerate(ranks)}
        by_node: list[Optional[str]] = [None] * self.num_nodes
        for (level, name), rank in node_ranks.items():
            key = normalize_classname(str(name))
            if rank not in order:
                raise HierarchyError(f"node {name!r} has rank {rank!r}, expected one of {list(ranks)}")
            names = self._names_by_level[level] if 0 <= level < self.num_levels else ()
            if key not in names:
                raise HierarchyError(f"a rank is given for {name!r} at depth {level + 1}, which is not a node")
            by_node[self.level_offsets[level] + names.index(key)] = rank
        for node, rank in enumerate(by_node):
            parent = self.parents[node]
            while rank is not None and parent >= 0 and by_node[parent] is None:
                parent = self.parents[parent]
            if rank is not None and parent >= 0 and order[by_node[parent]] >= order[rank]:
                raise HierarchyError(f"node {self.node_names[node]!r} has rank {rank!r}, not finer than its "
                                     f"ancestor {self.node_names[parent]!r} of rank {by_node[parent]!r}")
        #: rank names, coarse -> fine (empty when the taxonomy has none)
        self.rank_names: tuple[str, ...] = ranks
        #: each node's rank, or None (a path may skip a rank)
        self.node_ranks: tuple[Optional[str], ...] = tuple(by_node)

    # ------------------------------------------------------------------ any-depth structure
    @property
    def node_depths(self) -> tuple[int, ...]:
        """Depth of each node (1 = a child of the implicit root); ``node_levels`` + 1."""
        return tuple(level + 1 for level in self.node_levels)

    def node_ancestors_of(self, node: int) -> list[int]:
        """Global ids of ``node``'s ancestors, coarse -> fine, ``node`` itself last (the root excluded)."""
        chain = []
        while node >= 0:
            chain.append(node)
            node = self.parents[node]
        return chain[::-1]

    def lca(self, node_a: int, node_b: int) -> int:
        """Global id of the lowest common ancestor of two nodes; -1 for the implicit root."""
        a, b = self.node_ancestors_of(node_a), self.node_ancestors_of(node_b)
        common = -1
        for x, y in zip(a, b):
            if x != y:
                break
            common = x
        return common

    def lca_height(self, leaf_a: int, leaf_b: int) -> int:
        """The LCA height of two LEAVES (leaf indices): 0 for one leaf, else ``num_levels`` minus the LCA's depth.

        Making Better Mistakes' distance (see :meth:`leaf_lca_heights`).
        """
        if leaf_a == leaf_b:
            return 0
        node = self.lca(self.leaf_nodes[leaf_a], self.leaf_nodes[leaf_b])
        return self.num_levels - (0 if node < 0 else self.node_levels[node] + 1)

    def leaf_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """The leaves' columns ``[..., num_leaves]`` of all-node logits, in leaf order."""
        if not self.ragged:
            return logits[..., self.level_slices[-1]]
        return logits.index_select(-1, torch.tensor(self.leaf_nodes, dtype=torch.long, device=logits.device))

    def prompt_names(self, style: str = "official") -> list[str]:
        """One class name per node for text prompts, in node order.

        ``official`` (the default of every trainer): the name as written with only ``_`` replaced
        by a space (``large_man-made_outdoor_things`` -> ``large man-made outdoor things``,
        ``707-320`` stays), as CoOp, CoCoOp, MaPLe, KgCoOp, PromptSRC, zero-shot CLIP and the
        official HGCLIP code write it, so prompts tokenize exactly as theirs. ``normalized``:
        the names as written, normalised (``_`` and ``-`` become spaces: :attr:`node_names`, the names
        nodes are matched by, except for leaves with a :attr:`prompt_spellings` entry).
        Only the prompt text depends on the style; nodes are always identified by :attr:`node_names`.
        """
        if style == "normalized":
            return [normalize_classname(name) for name in self.raw_node_names]
        if style == "official":
            return [official_prompt_name(name) for name in self.raw_node_names]
        raise ValueError(f"class-name style must be one of {NAME_STYLES}, got {style!r}")

    def names_at_level(self, level: int) -> list[str]:
        """Node names of one level (0 = coarsest), in index order."""
        return list(self._names_by_level[level])

    # ------------------------------------------------------------------ labels and logits
    def level_targets(self, leaf_labels: torch.Tensor) -> torch.Tensor:
        """Map leaf labels ``[B]`` to per-level local targets ``[B, num_levels]``."""
        return self.ancestors.to(leaf_labels.device)[leaf_labels]

    def split_logits(self, logits: torch.Tensor) -> list[torch.Tensor]:
        """Split all-node logits ``[B, num_nodes]`` into one ``[B, level_size]`` tensor per level."""
        if logits.shape[-1] != self.num_nodes:
            raise ValueError(
                f"expected logits over {self.num_nodes} nodes (levels {dict(zip(self.level_names, self.level_sizes))}), "
                f"got width {logits.shape[-1]}"
            )
        return [logits[..., level_slice] for level_slice in self.level_slices]

    # ------------------------------------------------------------------ graph
    def edge_index(self, direction: str = "both", self_loops: bool = False) -> torch.Tensor:
        """Tree edges as a torch_geometric ``edge_index`` ``[2, E]`` (row 0 = source, row 1 = target).

        Args:
            direction: ``"parent_to_child"`` (messages flow down, as in the official
                code), ``"child_to_parent"`` or ``"both"`` (the paper's undirected graph).
            self_loops: also add one ``i -> i`` edge per node.

        Every tree edge appears once per direction (no duplicate edges).
        """
        if direction not in EDGE_DIRECTIONS:
            raise ValueError(f"edge direction must be one of {EDGE_DIRECTIONS}, got {direction!r}")
        child = torch.tensor([n for n, p in enumerate(self.parents) if p >= 0], dtype=torch.long)
        parent = torch.tensor([p for p in self.parents if p >= 0], dtype=torch.long)
        pieces = []
        if direction in ("parent_to_child", "both"):
            pieces.append(torch.stack([parent, child]))
        if direction in ("child_to_parent", "both"):
            pieces.append(torch.stack([child, parent]))
        if self_loops:
            nodes = torch.arange(self.num_nodes, dtype=torch.long)
            pieces.append(torch.stack([nodes, nodes]))
        return torch.cat(pieces, dim=1) if pieces else torch.empty(2, 0, dtype=torch.long)

    def node_leaf_incidence(self) -> torch.Tensor:
        """Bool ``[num_nodes, num_leaves]``: entry (n, l) is true when node n is leaf l or one of its ancestors."""
        incidence = torch.zeros(self.num_nodes, self.num_leaves, dtype=torch.bool)
        leaves = torch.arange(self.num_leaves).unsqueeze(1).expand_as(self.ancestors_global)
        valid = self.ancestors_global >= 0
        incidence[self.ancestors_global[valid], leaves[valid]] = True
        return incidence

    def lca_height_matrix(self) -> torch.Tensor:
        """``[num_leaves, num_leaves]`` height of the lowest common ancestor above the leaves.

        0 for the same leaf, 1 for siblings (on a fixed-level tree), ..., ``num_levels`` when two leaves
        share only the (implicit) root. This is the "ilsvrc" distance of Bertinetto et al.
        (:meth:`leaf_lca_heights`).
        """
        same = self.ancestors.unsqueeze(1) == self.ancestors.unsqueeze(0)
        shared_depth = same.long().cumprod(dim=-1).sum(dim=-1)
        return self.num_levels - shared_depth

    def leaf_lca_heights(self, leaf_a: torch.Tensor, leaf_b: torch.Tensor) -> torch.Tensor:
        """h(LCA(a, b)) for broadcastable long tensors of leaf indices (Bertinetto et al.'s height).

        ``num_levels`` minus the depth of the lowest common ancestor, i.e. minus the number of leading
        levels the two paths share: 0 for a leaf with itself, ``num_levels`` for two leaves that share only
        the implicit root. On a fixed-level tree this is the LCA node's height. On a tree whose leaves sit
        at several depths it is what Making Better Mistakes publishes (``<name>_ilsvrc_distances``): on its
        ImageNet tree (leaves at depths 3-15) every one of the 499,500 pairs of distinct leaves agrees, as on
        its tieredImageNet-H (depths 3-12) and iNaturalist-19 (depth 7) trees (``python -m hgclip.cli.check_lca``),
        whereas the LCA node's own longest path down agrees on 71% of the ImageNet pairs.
        Two distinct leaves' paths part at or above the shallower leaf, so -1 padding is never shared.
        """
        a, b = torch.as_tensor(leaf_a).long(), torch.as_tensor(leaf_b).long()
        same = self.ancestors[a] == self.ancestors[b]  # [..., L]
        return self.num_levels - same.long().cumprod(dim=-1).sum(dim=-1)

    # ------------------------------------------------------------------ subsets
    def restrict(self, leaf_indices: Iterable[int]) -> "Hierarchy":
        """The hierarchy of a subset of leaves (e.g. base or new classes).

        The kept leaves are relabelled ``0..n-1`` in ascending order of their old
        index; their ancestors are kept and every other node is dropped. As for any
        hierarchy, nodes of the upper levels are ordered by first appearance in the
        kept paths, so the result is deterministic.
        """
        kept = sorted(set(int(i) for i in leaf_indices))
        if not kept:
            raise HierarchyError("cannot restrict a hierarchy to an empty set of leaves")
        bad = [i for i in kept if not 0 <= i < self.num_leaves]
        if bad:
            raise HierarchyError(f"leaf indices out of range 0..{self.num_leaves - 1}: {bad[:5]}")
        kept_leaves = {self.paths[i][-1] for i in kept}
        spellings = {leaf: text for leaf, text in self.prompt_spellings.items() if leaf in kept_leaves}
        ranks = {(len(self.paths[i]) - 1 - k, self.paths[i][-1 - k]): rank for i in kept
                 for k, rank in enumerate(reversed(self.path_ranks(i))) if rank is not None}
        return Hierarchy(self.level_names, [self.raw_paths[i] for i in kept], spellings,
                         any_depth=self.any_depth, rank_names=self.rank_names, node_ranks=ranks)

    def rebuilt(self, leaves: Sequence[int], raw_paths: Optional[Sequence[Sequence[str]]] = None,
                prompt_spellings: Optional[Mapping[str, str]] = None) -> "Hierarchy":
        """The hierarchy over ``leaves`` (leaf indices, in the order given: the new label order).

        Keeps what the paths alone do not carry: the any-depth flag and each node's rank. ``raw_paths``
        (one per leaf, the same length as its path) may respell the nodes, e.g. a leaf as a dataset writes it.
        """
        leaves = [int(leaf) for leaf in leaves]
        raw = [tuple(path) for path in raw_paths] if raw_paths is not None else [self.raw_paths[i] for i in leaves]
        ranks = {}
        if self.rank_names:
            ranks = {(len(path) - 1 - k, path[-1 - k]): rank for leaf, path in zip(leaves, raw)
                     for k, rank in enumerate(reversed(self.path_ranks(leaf))) if rank is not None}
        return Hierarchy(self.level_names, raw, prompt_spellings, any_depth=self.any_depth,
                         rank_names=self.rank_names, node_ranks=ranks)

    def path_ranks(self, leaf: int) -> list[Optional[str]]:
        """The rank of each node on leaf ``leaf``'s path, coarse -> fine (None where a node has none)."""
        return [self.node_ranks[node] for node in self.node_ancestors_of(self.leaf_nodes[leaf])]

    # ------------------------------------------------------------------ serialisation
    def to_text(self) -> str:
        """The hierarchy in the file format read by :func:`hierarchy.load_hierarchy`."""
        if not self.any_depth:
            lines = ["levels: " + " > ".join(self.level_names)]
            lines += [" > ".join(path) for path in self.paths]
            return "\n".join(lines) + "\n"
        lines = [f"levels: {ANY_DEPTH}"] + (["ranks: " + " > ".join(self.rank_names)] if self.rank_names else [])
        for leaf, path in enumerate(self.paths):
            ranks = self.path_ranks(leaf)
            lines.append(" > ".join(name if rank is None else f"{name} @{rank}" for name, rank in zip(path, ranks)))
        return "\n".join(lines) + "\n"

    def digest(self) -> str:
        """A sha256 of the content (levels and paths, in order), for cache keys."""
        return hashlib.sha256(self.to_text().encode("utf-8")).hexdigest()

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Hierarchy) and self.level_names == other.level_names and self.paths == other.paths
                and self.any_depth == other.any_depth and self.node_ranks == other.node_ranks)

    def __hash__(self) -> int:
        return hash((self.level_names, self.paths))

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={size}" for name, size in zip(self.level_names, self.level_sizes))
        return f"Hierarchy({sizes})"
