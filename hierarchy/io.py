"""Reading and writing hierarchy files.

The format is meant to be read and edited by hand::

    # FGVC-Aircraft, from the official annotations   <- comments start with '#'
    levels: maker > family > variant                 <- header: level names, coarse -> fine
    Boeing > Boeing 707 > 707-320                    <- one root-to-leaf path per line
    Boeing > Boeing 727 > 727-200

Blank lines are ignored; a UTF-8 byte-order mark and CRLF line endings are accepted.
The order of the path lines is the leaf (label) order.
Names are normalised with :func:`hierarchy.normalize_classname`. Every problem is
reported as one line ``<file>:<line>: <what is wrong>``.
"""
from __future__ import annotations

import os

from .names import normalize_classname
from .tree import Hierarchy, HierarchyError, find_path_error

HEADER_PREFIX = "levels:"
SEPARATOR = ">"


class HierarchyFileError(HierarchyError):
    """A hierarchy file is malformed; the message names the file and the line."""


def parse_hierarchy_text(text: str, source: str = "<string>") -> Hierarchy:
    """Parse the hierarchy file format from a string (``source`` names it in errors)."""
    level_names: list[str] | None = None
    paths: list[tuple[str, ...]] = []
    raw_paths: list[tuple[str, ...]] = []
    path_lines: list[int] = []
    last_line = 0
    for line_number, raw in enumerate(text.splitlines(), start=1):
        last_line = line_number
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if level_names is None:
            if not line.lower().startswith(HEADER_PREFIX):
                raise HierarchyFileError(
                    f"{source}:{line_number}: expected the header 'levels: <coarsest> > ... > <finest>', got {line!r}"
                )
            level_names = [name.strip() for name in line[len(HEADER_PREFIX):].split(SEPARATOR)]
            if any(not name for name in level_names):
                raise HierarchyFileError(f"{source}:{line_number}: empty level name in the header {line!r}")
            if len(set(level_names)) != len(level_names):
                raise HierarchyFileError(f"{source}:{line_number}: duplicate level names in the header {line!r}")
            continue
        raw_paths.append(tuple(name.strip() for name in line.split(SEPARATOR)))
        paths.append(tuple(normalize_classname(name) for name in raw_paths[-1]))
        path_lines.append(line_number)

    if level_names is None:
        raise HierarchyFileError(
            f"{source}:{max(last_line, 1)}: empty hierarchy file; expected a 'levels: a > b' header and one path per line"
        )
    if not paths:
        raise HierarchyFileError(f"{source}:{last_line}: no root-to-leaf paths after the header")
    error = find_path_error(level_names, paths)
    if error is not None:
        raise HierarchyFileError(f"{source}:{path_lines[error.path_index]}: {error.message}")
    return Hierarchy(level_names, raw_paths)


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
