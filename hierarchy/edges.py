"""Edge-list hierarchy files: ``parent child`` pairs, as Making Better Mistakes and BREEDS ship them.

Syntax (full description in ``docs/reference/hierarchy-format.md``)::

    format: edges                         <- first line: this file is an edge list
    ranks: order > family > genus         <- optional: rank names, coarse -> fine
    n01 n02                               <- one "parent child" pair of ids per line
    n02 n03
    [names]                               <- optional: id<TAB>name[<TAB>rank]
    n03	tabby cat	genus
    [leaves]                              <- optional: the leaf (label) order, one id a line
    n03

Rules, each chosen once for the whole project:

* **DAG -> tree**: a node listed with several parents keeps the FIRST listed one (as
  ``datasets/wordnet.py`` keeps a synset's first hypernym); later parent lines are ignored.
* **Root**: when the edges have a single root, it is the implicit root (not a class);
  with several roots, each is a depth-1 node.
* **Leaves**: without ``[leaves]``, every node without children, in order of first appearance
  (a node named only on ignored second-parent lines is dropped); with it, the listed ids in
  that order, and the tree is cut to them and their ancestors (so a whole-WordNet ``isa`` file can be used).
  A listed id may not sit above another.
* **Names**: from ``[names]`` (an id without a row is named by its id). Names shared by
  several ids get `` (id)`` appended so that every node stays identifiable; a leaf's prompt
  still uses the bare name.
"""
from __future__ import annotations

from typing import Optional

from .names import normalize_classname
from .tree import Hierarchy, HierarchyError

EDGES_HEADER = "format:edges"
_SECTIONS = ("[edges]", "[names]", "[leaves]")


def _error(source: str, line: int, message: str) -> HierarchyError:
    from .io import HierarchyFileError

    return HierarchyFileError(f"{source}:{line}: {message}")


def parse_edge_list(text: str, source: str = "<string>") -> Hierarchy:
    """Parse an edge-list hierarchy (module docstring) into an any-depth :class:`Hierarchy`."""
    parent_of: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    first_seen: dict[str, int] = {}
    names: dict[str, str] = {}
    ranks: dict[str, str] = {}
    rank_names: list[str] = []
    leaf_order: list[str] = []
    leaf_lines: dict[str, int] = {}
    section, header_seen, last_line = "[edges]", False, 0
    for number, raw in enumerate(text.splitlines(), start=1):
        last_line = number
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not header_seen:
            header_seen = True  # the caller checked it is "format: edges"
            continue
        if line.lower() in _SECTIONS:
            section = line.lower()
            continue
        if section == "[edges]" and line.lower().startswith("ranks:") and not parent_of and not rank_names:
            rank_names = [name.strip() for name in line[len("ranks:"):].split(">")]
            if any(not name for name in rank_names) or len(set(rank_names)) != len(rank_names):
                raise _error(source, number, f"expected distinct non-empty rank names, got {line!r}")
        elif section == "[edges]":
            parts = line.split()
            if len(parts) != 2:
                raise _error(source, number, f"expected 'parent child' (two ids), got {line!r}")
            parent, child = parts
            if parent == child:
                raise _error(source, number, f"node {child!r} is its own parent")
            for node in (parent, child):
                first_seen.setdefault(node, len(first_seen))
            if child not in parent_of:  # the first listed parent wins (DAG -> tree)
                parent_of[child] = parent
                children.setdefault(parent, []).append(child)
        elif section == "[names]":
            parts = [part.strip() for part in raw.rstrip("\r\n").split("\t")]
            if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
                raise _error(source, number, f"expected 'id<TAB>name' or 'id<TAB>name<TAB>rank', got {line!r}")
            names.setdefault(parts[0], parts[1])
            if len(parts) == 3 and parts[2]:
                if parts[2] not in rank_names:
                    raise _error(source, number, f"rank {parts[2]!r} of {parts[0]!r} is not in the 'ranks:' line {rank_names}")
                ranks[parts[0]] = parts[2]
        else:
            if line in leaf_lines:
                raise _error(source, number, f"leaf {line!r} listed twice (first on line {leaf_lines[line]})")
            leaf_lines[line] = number
            leaf_order.append(line)
    if not parent_of:
        raise _error(source, max(last_line, 1), "no 'parent child' edges after 'format: edges'")

    def chain(node: str, line: int) -> list[str]:
        path, seen = [node], {node}
        while path[-1] in parent_of:
            path.append(parent_of[path[-1]])
            if path[-1] in seen:
                raise _error(source, line, f"a cycle through {path[-1]!r}")
            seen.add(path[-1])
        return path[::-1]

    if leaf_order:
        for leaf in leaf_order:
            if leaf not in first_seen:
                raise _error(source, leaf_lines[leaf], f"leaf {leaf!r} is in no edge")
        chains = [chain(leaf, leaf_lines[leaf]) for leaf in leaf_order]
        inner = {node for path in chains for node in path[:-1]}
        for leaf in leaf_order:
            if leaf in inner:
                raise _error(source, leaf_lines[leaf], f"listed leaf {leaf!r} is an ancestor of another listed leaf")
    else:
        kept = set(parent_of) | set(children)  # a node only in ignored (second-parent) lines is dropped
        leaves = sorted((node for node in kept if node not in children), key=first_seen.__getitem__)
        chains = [chain(leaf, last_line) for leaf in leaves]
    roots = {path[0] for path in chains}
    if len(roots) == 1:
        chains = [path[1:] for path in chains]  # the single root is the implicit root
        if any(not path for path in chains):
            raise _error(source, last_line, "the root is itself a leaf")
    return _build(chains, names, ranks, rank_names, source)


def _build(chains: list[list[str]], names: dict[str, str], ranks: dict[str, str],
           rank_names: list[str], source: str) -> Hierarchy:
    """The :class:`Hierarchy` of id paths, ids replaced by their (disambiguated) names."""
    used = {node for path in chains for node in path}
    bare = {node: names.get(node, node) for node in used}
    count: dict[str, int] = {}
    for node in used:
        key = normalize_classname(bare[node])
        count[key] = count.get(key, 0) + 1
    label = {node: bare[node] if count[normalize_classname(bare[node])] == 1 else f"{bare[node]} ({node})"
             for node in used}
    paths = [[label[node] for node in path] for path in chains]
    spellings = {label[path[-1]]: bare[path[-1]] for path in chains if label[path[-1]] != bare[path[-1]]}
    node_ranks: dict[tuple[int, str], str] = {}
    for path in chains:
        for level, node in enumerate(path):
            if node in ranks:
                node_ranks[(level, label[node])] = ranks[node]
    try:
        return Hierarchy((), paths, spellings, any_depth=True, rank_names=rank_names, node_ranks=node_ranks)
    except HierarchyError as problem:
        from .io import HierarchyFileError

        raise HierarchyFileError(f"{source}: {problem}") from None


def hierarchy_from_edges(edges: list[tuple[str, str]], names: Optional[dict[str, str]] = None,
                         leaves: Optional[list[str]] = None) -> Hierarchy:
    """An any-depth :class:`Hierarchy` from ``(parent, child)`` id pairs (same rules as the file)."""
    lines = ["format: edges"] + [f"{parent} {child}" for parent, child in edges]
    if names:
        lines += ["[names]"] + [f"{node}\t{name}" for node, name in names.items()]
    if leaves:
        lines += ["[leaves]"] + list(leaves)
    return parse_edge_list("\n".join(lines), "<edges>")
