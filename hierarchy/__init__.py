"""Class hierarchies: the :class:`Hierarchy` type, its file format and name normalisation."""
from .io import HierarchyFileError, load_hierarchy, parse_hierarchy_text, save_hierarchy
from .names import NAME_STYLES, check_name_style, configured_prompt_names, normalize_classname, official_prompt_name
from .tree import EDGE_DIRECTIONS, Hierarchy, HierarchyError

__all__ = [
    "EDGE_DIRECTIONS",
    "NAME_STYLES",
    "Hierarchy",
    "HierarchyError",
    "HierarchyFileError",
    "check_name_style",
    "configured_prompt_names",
    "load_hierarchy",
    "normalize_classname",
    "official_prompt_name",
    "parse_hierarchy_text",
    "save_hierarchy",
]
