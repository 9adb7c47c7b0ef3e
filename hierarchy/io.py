"""Reading and writing hierarchy files.

The format is meant to be read and edited by hand::

    # FGVC-Aircraft, from the official annotations   <- comments start with '#'
    levels: maker > family > variant                 <- header: level names, coarse -> fine
    Boeing > Boeing 707 > 707-320                    <- one root-to-leaf path per line
    Boeing > Boeing 727 > 727-200

A tree whose leaves sit at different depths says ``levels: any``: its paths may have any
length (its levels are the depths, ``depth1``..``depthD``). It may name ranks coarse -> fine
(``ranks: order > family > genus > species``) and tag a node with one as ``Felidae @family``;
ranks rise strictly along a path, and a path may skip one. A file whose first line is
``format: edges`` is an edge list instead (:mod:`hierarchy.edges`).

Blank lines are ignored; a UTF-8 byte-order mark and CRLF line endings are accepted.
The order of the path lines is the leaf (label) order.
Names are normalised with :func:`hierarchy.normalize_classname`. Every problem is
reported as one line ``<file>:<line>: <what is wrong>``.
"""
from __future__ import annotations

import os

from .names import normalize_classname
from .tree import ANY_DEPTH, Hierarchy, HierarchyError, find_path_error

HEADER_PREFIX = "levels:"
RANKS_PREFIX = "ranks:"
RANK_MARK = "@"
SEPARATOR = ">"


class HierarchyFileError(HierarchyError):
    """A hierarchy file is malformed; the message names the file and the line."""


def parse_hierarchy_text(text: str, source: str = "<string>") -> Hierarchy:
    """Parse the hierarchy file format from a string (``source`` names it in errors)."""
    from .edges import EDGES_HEADER, parse_edge_list

    level_names: list[str] | None = None
    any_depth = False
    rank_names: list[str] = []
    node_ranks: dict[tuple[int, str], str] = {}
    paths: list[tuple[str, ...]] = []
    raw_paths: list[tuple[str, ...]] = []
    path_lines: list[int] = []
    last_line = 0
    for line_number, raw in enumerate(text.splitlines(), start=1):
        last_line = line_number
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if level_names is None and line.lower().replace(" ", "") == EDGES_HEADER:
            return parse_edge_list(text, source)
        if level_names is not None and any_depth and not paths and line.lower().startswith(RANKS_PREFIX):
            rank_names = [name.strip() for name in line[len(RANKS_PREFIX):].split(SEPARATOR)]
            if any(not name for name in rank_names) or len(set(rank_names)) != len(rank_names):
                raise HierarchyFileError(f"{source}:{line_number}: expected distinct non-empty rank names, got {line!r}")
            continue
        if level_names is None:
            if not line.lower().startswith(HEADER_PREFIX):
                raise HierarchyFileError(
                    f"{source}:{line_number}: expected the header 'levels: <coarsest> > ... > <finest>', got {line!r}"
                )
            level_names = [name.strip() for name in line[len(HEADER_PREFIX):].split(SEPARATOR)]
            any_depth = level_names == [ANY_DEPTH]
            if any(not name for name in level_names):
                raise HierarchyFileError(f"{source}:{line_number}: empty level name in the header {line!r}")
            if len(set(level_names)) != len(level_names):
                raise HierarchyFileError(f"{source}:{line_number}: duplicate level names in the header {line!r}")
            continue
        names = [name.strip() for name in line.split(SEPARATOR)]
        if any_depth:
            names = [_take_rank(name, len(paths), depth, rank_names, node_ranks, f"{source}:{line_number}")
                     for depth, name in enumerate(names)]
        raw_paths.append(tuple(names))
        paths.append(tuple(normalize_classname(name) for name in raw_paths[-1]))
        path_lines.append(line_number)

    if level_names is None:
        raise HierarchyFileError(
            f"{source}:{max(last_line, 1)}: empty hierarchy file; expected a 'levels: a > b' header and one path per line"
        )
    if not paths:
        raise HierarchyFileError(f"{source}:{last_line}: no root-to-leaf paths after the header")
    error = find_path_error(level_names, paths, any_depth)
    if error is not None:
        raise HierarchyFileError(f"{source}:{path_lines[error.path_index]}: {error.message}")
    try:
        return Hierarchy(level_names, raw_paths, any_depth=any_depth, rank_names=rank_names, node_ranks=node_ranks)
    except HierarchyError as problem:
        raise HierarchyFileError(f"{source}: {problem}") from None


def _take_rank(name: str, path_index: int, level: int, rank_names: list[str],
               node_ranks: dict[tuple[int, str], str], where: str) -> str:
    """``name`` without its ``@rank`` tag; the tag, checked against the ``ranks:`` line, goes into ``node_ranks``."""
    if RANK_MARK not in name:
        return name
    bare, rank = (part.strip() for part in name.rsplit(RANK_MARK, 1))
    if rank not in rank_names:
        raise HierarchyFileError(f"{where}: rank {rank!r} of {bare!r} is not in the 'ranks:' line {rank_names}")
    key = (level, normalize_classname(bare))
    if node_ranks.setdefault(key, rank) != rank:
        raise HierarchyFileError(f"{where}: {bare!r} has ranks {node_ranks[key]!r} and {rank!r}")
    return bare


def read_text_file(path: str) -> str:
    """A hierarchy file's text: UTF-8 with or without a byte-order mark, any line ending.

    Binary content (a NUL byte, or bytes that are not UTF-8) is a one-line error naming the file.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    nul = data.find(b"\x00")
    if nul >= 0:
        raise HierarchyFileError(f"{path}: binary data (a NUL byte at offset {nul}); "
                                 "expected a UTF-8 text hierarchy file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise HierarchyFileError(f"{path}:{line}: not UTF-8 text (byte {error.start}); "
                                 "expected a UTF-8 text hierarchy file") from None


def load_hierarchy(path: str) -> Hierarchy:
    """Load and validate a hierarchy file (format in this module's docstring)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"hierarchy file not found: {path}")
    return parse_hierarchy_text(read_text_file(path), source=path)


def save_hierarchy(hierarchy: Hierarchy, path: str, comment: str = "") -> None:
    """Write ``hierarchy`` in the file format, atomically."""
    from ..common.fileio import atomic_write_text

    header = "".join(f"# {line}\n" for line in comment.splitlines())
    atomic_write_text(path, header + hierarchy.to_text())
