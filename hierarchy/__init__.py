"""Class hierarchies: the :class:`Hierarchy` type, its file format and name normalisation."""
from .edges import hierarchy_from_edges, parse_edge_list
from .io import HierarchyFileError, load_hierarchy, parse_hierarchy_text, save_hierarchy
from .names import NAME_STYLES, check_name_style, configured_prompt_names, normalize_classname, official_prompt_name
from .tree import ANY_DEPTH, EDGE_DIRECTIONS, Hierarchy, HierarchyError

__all__ = [
    "ANY_DEPTH",
    "EDGE_DIRECTIONS",
    "NAME_STYLES",
    "Hierarchy",
    "HierarchyError",
    "HierarchyFileError",
    "check_name_style",
    "configured_prompt_names",
    "hierarchy_from_edges",
    "load_hierarchy",
    "normalize_classname",
    "official_prompt_name",
    "parse_edge_list",
    "parse_hierarchy_text",
    "save_hierarchy",
]
