"""A dataset's class names matched to the leaves of its tree: the one rule of every route.

A dataset of this project reads its classes and matches them to its tree (a shipped hierarchy
file, or a tree derived from the data); a CoOp/MaPLe checkout's flat dataset gets the same tree
matched to its ``lab2cname`` (:mod:`hgclip.datasets.attach`). Both go through
:func:`match_leaves`, so aliases and shared names behave the same on both routes:

* names are compared after :func:`hgclip.hierarchy.normalize_classname` (``_``/``-``/spaces), exactly,
  else ignoring case;
* a leaf also answers to the other spellings its dataset declares (``leaf_aliases``: Flowers'
  ``lotus lotus`` is ``lotus`` in some copies of the data);
* leaves that share a prompt spelling (ImageNet's two ``missile`` classes, told apart by their
  WordNet synonyms) answer to that spelling, and the classes that carry it take them in label
  order, which is the tree's leaf order;
* the result's leaves are in the order of the class names, so labels are the data's, and each
  leaf is spelled as the data spells it (prompts say what the data says); a shared-name leaf keeps
  its own name and takes the data's spelling as its prompt spelling.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from ..hierarchy import Hierarchy, normalize_classname
from .checks import preview


@dataclass(frozen=True)
class ClassTree:
    """The tree whose leaves are a dataset's classes, where it comes from, and each leaf's id if it has one.

    Attributes:
        hierarchy: the tree, leaves in the dataset's canonical label order.
        source: the file or files it comes from, for messages.
        leaf_ids: per leaf, the id the data uses for it (ImageNet's wnids), or empty.
        id_names: a ``words.txt``-style file (``id<TAB>synonym, ...``) naming those ids and the ids above
            them, or "": what names the inner nodes of a hierarchy file keyed by those ids
            (:mod:`hgclip.datasets.id_match`).
    """

    hierarchy: Hierarchy
    source: str
    leaf_ids: tuple[str, ...] = ()
    id_names: str = ""


def without_leaves(hierarchy: Hierarchy, unused: Sequence[str], source: str) -> Hierarchy:
    """``hierarchy`` restricted to every leaf not named in ``unused`` (names normalised)."""
    if not unused:
        return hierarchy
    drop = {normalize_classname(name) for name in unused}
    absent = sorted(drop - set(hierarchy.leaf_names))
    if absent:
        raise ValueError(f"{source}: the leaves {absent} declared unused are not in the file")
    return hierarchy.restrict([i for i, name in enumerate(hierarchy.leaf_names) if name not in drop])


def _fold(name: str) -> str:
    return normalize_classname(name).casefold()


class _LeafIndex:
    """Which leaves answer to a name: by their data spelling exactly, ignoring case, then by an alias."""

    def __init__(self, tree: Hierarchy, aliases: Mapping[str, Sequence[str]], where: str):
        self.tables: list[dict[str, list[int]]] = [{}, {}, {}, {}]
        for index, (path, raw) in enumerate(zip(tree.paths, tree.raw_paths)):
            spelling = tree.prompt_spellings.get(path[-1], raw[-1])
            self._add(0, normalize_classname(spelling), index)
            self._add(1, _fold(spelling), index)
        leaf_index = {name: index for index, name in enumerate(tree.leaf_names)}
        for leaf, others in aliases.items():
            if normalize_classname(leaf) not in leaf_index:
                raise ValueError(f"{where}: the leaf {leaf!r} given aliases is not in the tree")
            for other in others:
                self._add(2, normalize_classname(other), leaf_index[normalize_classname(leaf)])
                self._add(3, _fold(other), leaf_index[normalize_classname(leaf)])

    def _add(self, table: int, key: str, index: int) -> None:
        entries = self.tables[table].setdefault(key, [])
        if index not in entries:
            entries.append(index)

    def candidates(self, name: str) -> tuple[int, ...]:
        keys = (normalize_classname(name), _fold(name), normalize_classname(name), _fold(name))
        for table, key in zip(self.tables, keys):
            if key in table:
                return tuple(table[key])
        return ()


def match_leaves(
    tree: Hierarchy,
    class_names: Sequence[str],
    where: str,
    aliases: Optional[Mapping[str, Sequence[str]]] = None,
    every_leaf: bool = False,
) -> Hierarchy:
    """``tree`` restricted to ``class_names`` (label order, the data's spelling), by the rules of the module docstring.

    Args:
        where: names both sides in errors (e.g. ``"split_zhou_X.json vs x.txt"``).
        aliases: leaf -> its other spellings in published copies of the data.
        every_leaf: every leaf must be one of the classes (a reader of the whole dataset), not only a subset.

    Raises:
        ValueError: one line: classes that are not leaves (up to 10, with as many leaves that matched
            none), several classes for one leaf, a shared name the dataset carries fewer times than
            the tree (which one is meant cannot be told), or (``every_leaf``) leaves without a class.
    """
    return leaves_as_classes(tree, match_leaf_indices(tree, class_names, where, aliases, every_leaf), class_names)


def match_leaf_indices(
    tree: Hierarchy,
    class_names: Sequence[str],
    where: str,
    aliases: Optional[Mapping[str, Sequence[str]]] = None,
    every_leaf: bool = False,
) -> list[int]:
    """The leaf of ``tree`` that each of ``class_names`` matches (same rules and errors as :func:`match_leaves`);
    also what tells which id each class has where the tree's leaves carry ids (:class:`ClassTree`)."""
    index = _LeafIndex(tree, aliases or {}, where)
    groups: dict[tuple[int, ...], list[int]] = {}
    missing = []
    for position, name in enumerate(class_names):
        candidates = index.candidates(str(name))
        if candidates:
            groups.setdefault(candidates, []).append(position)
        else:
            missing.append(str(name))
    taken: dict[int, int] = {}
    for candidates, positions in groups.items():
        if len(positions) > len(candidates) or any(leaf in taken for leaf in candidates):
            twice = sorted({str(class_names[p]) for p in positions}
                           | {str(class_names[taken[leaf]]) for leaf in candidates if leaf in taken})
            raise ValueError(f"{where}: several classes match the same leaf: {preview(twice)}")
        if len(positions) < len(candidates):
            leaves = [tree.raw_paths[leaf][-1] for leaf in candidates]
            raise ValueError(f"{where}: the dataset has {len(positions)} class(es) named {class_names[positions[0]]!r} "
                             f"but the tree {len(candidates)} leaves spelled so ({preview(leaves)}): which is meant "
                             "cannot be told; set DATASET.HIERARCHY_FILE to a file with distinct leaves")
        taken.update(zip(candidates, positions))
    unused = [raw[-1] for leaf, raw in enumerate(tree.raw_paths) if leaf not in taken]
    if missing:
        raise ValueError(f"{where}: {len(missing)} of the dataset's {len(class_names)} classes are not leaves: "
                         f"{preview(missing)}; leaves that match no class: {preview(unused) or 'none'}")
    if every_leaf and unused:
        raise ValueError(f"{where}: {len(unused)} leaves match no class of the dataset: {preview(unused)}")
    leaf_of = {position: leaf for leaf, position in taken.items()}
    return [leaf_of[position] for position in range(len(class_names))]


def leaves_as_classes(tree: Hierarchy, leaves: Sequence[int], class_names: Sequence[str]) -> Hierarchy:
    """``tree`` over ``leaves`` (one per class, in label order), each leaf spelled as its class is."""
    paths, spellings = [], {}
    for leaf, name in zip(leaves, class_names):
        raw = tree.raw_paths[leaf]
        if tree.paths[leaf][-1] in tree.prompt_spellings:  # a shared name: the leaf keeps its own
            paths.append(raw)
            spellings[tree.paths[leaf][-1]] = str(name).strip()
        else:
            paths.append(raw[:-1] + (str(name).strip(),))
    return tree.rebuilt(leaves, paths, spellings)
