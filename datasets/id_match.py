"""A hierarchy file keyed by ids, matched to a dataset's classes by id: the one rule of every route.

Making Better Mistakes' ImageNet tree (``mbm_imagenet.txt``) names its nodes by WordNet id, while this
project's ImageNet names its classes by CoOp's ``classnames.txt``; the two only meet through the ids.
A dataset that knows an id per class (ImageNet's wnids: :attr:`ClassTree.leaf_ids
<hgclip.datasets.leaf_match.ClassTree>`) gets ``DATASET.HIERARCHY_FILE`` by this rule, on its own reader
(:func:`hgclip.datasets.base.override_hierarchy`) and on a CoOp/MaPLe checkout's flat dataset of the same
name (:mod:`hgclip.datasets.attach`):

* the file is matched by id when some of its leaves, as written, are ids of the dataset's classes;
  otherwise the route matches it by name as before;
* every class of the dataset must be a leaf of the file (else a one-line error naming the file and a few
  missing ids); leaves of the file that are not classes are dropped with the nodes only they need
  (ImageNet-A/-R's 200 classes under the 1000-leaf tree);
* the labels keep the dataset's order, and each leaf takes the dataset's class name and prompt spelling
  (ImageNet's two "missile" classes stay the two leaves the dataset's reader makes of them);
* an inner node named by a bare id (an edge list without a ``[names]`` row for it) is named from the
  dataset's ``words.txt``-style file by :func:`hgclip.datasets.wordnet.distinct_names`, depth by depth, so
  that no two nodes of one depth share a name; a node the file names keeps its name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from ..hierarchy import Hierarchy
from .checks import preview
from .leaf_match import ClassTree, leaves_as_classes, match_leaf_indices
from .wordnet import distinct_names, read_words


@dataclass(frozen=True)
class ClassIds:
    """A dataset's classes in label order with the id of each.

    Attributes:
        classes: a hierarchy whose leaves are the classes (label order): only the leaves' names and prompt
            spellings are used, the tree above them is replaced by the file's.
        ids: per class, its id (ImageNet's wnid).
        id_names: a ``words.txt``-style file naming ids, or "" (inner nodes then keep their ids).
    """

    classes: Hierarchy
    ids: tuple[str, ...]
    id_names: str = ""


def match_class_ids(tree: Optional[ClassTree], class_names: Sequence[str], where: str,
              aliases: Optional[Mapping[str, Sequence[str]]] = None) -> Optional[ClassIds]:
    """``class_names`` (a checkout's, in its label order) with the id of each from ``tree``, or None where
    ``tree``'s leaves carry no ids. Matched to the leaves by :func:`~hgclip.datasets.leaf_match.match_leaves`'s rule."""
    if tree is None or not tree.leaf_ids:
        return None
    leaves = match_leaf_indices(tree.hierarchy, class_names, where, aliases)
    return ClassIds(leaves_as_classes(tree.hierarchy, leaves, class_names),
                    tuple(tree.leaf_ids[leaf] for leaf in leaves), tree.id_names)


def _inner_names(tree: Hierarchy, leaves: Sequence[int], classes: ClassIds) -> dict[tuple[int, str], str]:
    """(depth, id) -> name for every inner node of the kept paths that is named by a bare id in ``id_names``."""
    if not classes.id_names:
        return {}
    words = read_words(classes.id_names)
    ids: dict[int, dict[str, None]] = {}
    taken: dict[int, dict[str, None]] = {}
    for label, leaf in enumerate(leaves):
        raw = tree.raw_paths[leaf]
        for depth, node in enumerate(raw[:-1]):
            (ids if node in words else taken).setdefault(depth, {})[node] = None
        taken.setdefault(len(raw) - 1, {})[classes.classes.raw_paths[label][-1]] = None
    return {(depth, node): name for depth, nodes in ids.items()
            for node, name in distinct_names(list(nodes), words, classes.id_names, list(taken.get(depth, {}))).items()}


def match_ids(tree: Hierarchy, classes: ClassIds, source: str) -> Optional[Hierarchy]:
    """The tree of the file ``source`` (loaded as ``tree``) over ``classes`` by id (module docstring), or None
    when none of its leaves is an id of ``classes`` (the file is then matched by name).

    Raises:
        ValueError: one line naming the file: classes whose id is not a leaf of it, or a tree the
            renamed nodes make invalid.
    """
    written = {raw[-1]: leaf for leaf, raw in enumerate(tree.raw_paths)}
    if not classes.ids or not any(leaf_id in written for leaf_id in classes.ids):
        return None
    missing = [leaf_id for leaf_id in classes.ids if leaf_id not in written]
    if missing:
        raise ValueError(f"DATASET.HIERARCHY_FILE {source}: {len(missing)} of the dataset's {len(classes.ids)} "
                         f"classes are not leaves of the file (by id): {preview(missing)}")
    leaves = [written[leaf_id] for leaf_id in classes.ids]
    names = _inner_names(tree, leaves, classes)
    paths = [tuple(names.get((depth, node), node) for depth, node in enumerate(tree.raw_paths[leaf][:-1]))
             + (classes.classes.raw_paths[label][-1],) for label, leaf in enumerate(leaves)]
    try:
        return tree.rebuilt(leaves, paths, classes.classes.prompt_spellings)
    except ValueError as problem:
        raise ValueError(f"DATASET.HIERARCHY_FILE {source}: its tree over the dataset's classes: {problem}") from None
