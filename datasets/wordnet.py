"""ImageNet's class tree, derived at load time from ImageNet's own WordNet metadata.

Files (ImageNet's release metadata, provided by the user; none is shipped here):

* ``wordnet.is_a.txt``: one ``<parent wnid> <child wnid>`` pair per line (WordNet hypernymy);
* ``words.txt``: ``<wnid><TAB><synonym>, <synonym>, ...`` per line.

WordNet is a DAG of uneven depth, so it is cut into a tree of a fixed number of levels by one
rule (``DATASET.WORDNET.LEVELS`` = L, default 2):

    a class's path is its L-1 nearest ancestors, following at each step the *first* parent that
    ``wordnet.is_a.txt`` lists for the synset (file order), then the class itself.

With L = 2 this is HGCLIP's ImageNet hierarchy: the direct ``is_a`` parent of each class. (The
official code adds an edge to every listed parent, a one-parent check being commented out, which
gives a DAG; a tree needs one, and the first listed is the one HGCLIP's paper describes.)
Following first parents makes every node's parent unique, so the result is always a tree. A node
is a (level, synset) pair: a synset that is the parent of one class and the grandparent of another
appears on two levels.

Names: classes keep the dataset's class names (``classnames.txt``); an ancestor is named by its
first synonym in ``words.txt``. Two different synsets on one level with the same name are named by
their full ``words.txt`` synonym list instead, and if that still collides, by the list plus the
wnid, so that no two synsets are merged into one node. This applies to classes too: CLIP's class
list (CoOp's ``classnames.txt``) names two classes "missile" and two "sunglasses", which become the
nodes "missile" / "projectile, missile" and "sunglass, dark glasses, shades" / "sunglasses, dark
glasses, shades". Their prompts keep CLIP's names ("missile" twice, as CLIP and CoOp prompt them:
``Hierarchy.prompt_spellings``); only the node that identifies each class is renamed.
"""
from __future__ import annotations

import os
from typing import Sequence

from ..hierarchy import Hierarchy, normalize_classname
from .checks import DatasetLayoutError

IS_A_FILE = "wordnet.is_a.txt"
WORDS_FILE = "words.txt"
DOWNLOAD = ("ImageNet's WordNet metadata files wordnet.is_a.txt and words.txt "
            "(http://www.image-net.org/archive/wordnet.is_a.txt and http://www.image-net.org/archive/words.txt)")


def wordnet_files(directory: str, dataset: str) -> tuple[str, str]:
    """Paths of ``wordnet.is_a.txt`` and ``words.txt`` in ``directory`` (a one-line error if missing)."""
    paths = (os.path.join(directory, IS_A_FILE), os.path.join(directory, WORDS_FILE))
    for path in paths:
        if not os.path.isfile(path):
            raise DatasetLayoutError(
                f"{dataset}: {path} not found; its hierarchy is derived from {IS_A_FILE} and {WORDS_FILE} in "
                f"{directory} (DATASET.WORDNET.DIR, default <DATASET.ROOT>/imagenet); download: {DOWNLOAD}"
            )
    return paths


def read_edges(path: str) -> list[tuple[str, str]]:
    """The ``(parent, child)`` id pairs of a ``wordnet.is_a.txt``-style file, in file order."""
    pairs: list[tuple[str, str]] = []
    with open(path, "r", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ValueError(f"{path}:{line_number}: expected '<parent id> <child id>', got {line.strip()!r}")
            pairs.append((fields[0], fields[1]))
    return pairs


def read_first_parents(path: str) -> dict[str, str]:
    """child wnid -> its first listed parent wnid, from a ``wordnet.is_a.txt``."""
    parent: dict[str, str] = {}
    for first, child in read_edges(path):
        parent.setdefault(child, first)
    return parent


def read_words(path: str) -> dict[str, list[str]]:
    """wnid -> its synonyms, from a ``words.txt``."""
    words: dict[str, list[str]] = {}
    with open(path, "r", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            wnid, tab, text = line.rstrip("\n").partition("\t")
            synonyms = [word.strip() for word in text.split(",") if word.strip()]
            if not tab or not synonyms:
                raise ValueError(f"{path}:{line_number}: expected '<wnid><TAB><synonym>, ...', got {line.strip()!r}")
            words[wnid.strip()] = synonyms
    return words


def ancestor_chain(wnid: str, parent: dict[str, str], count: int, source: str) -> list[str]:
    """The ``count`` nearest first-parent ancestors of ``wnid``, nearest first."""
    chain, node = [], wnid
    while len(chain) < count:
        if node not in parent:
            raise ValueError(
                f"{source}: {wnid} has only {len(chain)} ancestor(s) above it, fewer than DATASET.WORDNET.LEVELS - 1 = {count}"
            )
        node = parent[node]
        if node in chain or node == wnid:
            raise ValueError(f"{source}: the is_a parents of {wnid} form a cycle through {node}")
        chain.append(node)
    return chain


def distinct_names(wnids: Sequence[str], words: dict[str, list[str]], source: str,
                   taken: Sequence[str] = ()) -> dict[str, str]:
    """A distinct name for every synset of one level: its first synonym; where two would be equal
    (after ``normalize_classname``), the full synonym list; where still equal, the list and the wnid.
    ``taken``: names other nodes of the level already have (a synset's name equal to one counts as a clash)."""
    for wnid in wnids:
        if wnid not in words:
            raise ValueError(f"{source}: {wnid} has no entry")
    names = {wnid: words[wnid][0] for wnid in wnids}
    for fallback in (lambda w: ", ".join(words[w]), lambda w: f"{', '.join(words[w])} ({w})"):
        counts: dict[str, int] = {}
        for name in [*names.values(), *taken]:
            counts[normalize_classname(name)] = counts.get(normalize_classname(name), 0) + 1
        clashing = [w for w in wnids if counts[normalize_classname(names[w])] > 1]
        if not clashing:
            break
        for wnid in clashing:
            names[wnid] = fallback(wnid)
    return {wnid: name.replace(">", " ") for wnid, name in names.items()}


def height_name(height: int) -> str:
    """The level name of the ancestors ``height`` steps above the classes."""
    return {1: "parent", 2: "grandparent"}.get(height, f"ancestor {height}")


def wordnet_hierarchy(
    classes: Sequence[tuple[str, str]],
    is_a_path: str,
    words_path: str,
    levels: int,
) -> Hierarchy:
    """The tree of ``classes`` (``(wnid, class name)``, in label order) cut to ``levels`` levels."""
    levels = int(levels)
    if levels < 1:
        raise ValueError(f"DATASET.WORDNET.LEVELS must be at least 1, got {levels}")
    parent = read_first_parents(is_a_path) if levels > 1 else {}
    chains = [ancestor_chain(wnid, parent, levels - 1, is_a_path)[::-1] for wnid, _ in classes]  # coarse -> fine
    counts: dict[str, int] = {}
    for _, name in classes:
        counts[normalize_classname(name)] = counts.get(normalize_classname(name), 0) + 1
    clashing = [wnid for wnid, name in classes if counts[normalize_classname(name)] > 1]
    words = read_words(words_path) if levels > 1 or clashing else {}
    spellings: dict[str, str] = {}
    if clashing:
        renamed = distinct_names(clashing, words, words_path)
        print(f"Classes sharing a name, told apart by their {WORDS_FILE} synonyms (their prompts keep the class "
              "name): " + "; ".join(renamed.values()))
        spellings = {renamed[wnid]: name for wnid, name in classes if wnid in renamed}
        classes = [(wnid, renamed.get(wnid, name)) for wnid, name in classes]
    level_names = [height_name(levels - 1 - level) for level in range(levels - 1)] + ["class"]
    names_per_level = [
        distinct_names(list(dict.fromkeys(chain[level] for chain in chains)), words, words_path)
        for level in range(levels - 1)
    ]
    paths = [
        tuple(names_per_level[level][chain[level]] for level in range(levels - 1)) + (name,)
        for chain, (_, name) in zip(chains, classes)
    ]
    return Hierarchy(level_names, paths, spellings)
