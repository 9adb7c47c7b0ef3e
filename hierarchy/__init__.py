"""Class hierarchies: the :class:`Hierarchy` type, its file format and name normalisation."""
from .names import normalize_classname
from .tree import EDGE_DIRECTIONS, Hierarchy, HierarchyError
from .io import HierarchyFileError, load_hierarchy, parse_hierarchy_text, save_hierarchy

__all__ = [
    "EDGE_DIRECTIONS",
    "Hierarchy",
    "HierarchyError",
    "HierarchyFileError",
    "load_hierarchy",
    "normalize_classname",
    "parse_hierarchy_text",
    "save_hierarchy",
]
