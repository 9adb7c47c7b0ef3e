"""Datasets reading a tree whose leaves sit at different depths: base/new split, DATASET.HIERARCHY_FILE, class matching."""
from __future__ import annotations

from hgclip.datasets.base import override_hierarchy, subsample_leaves
from hgclip.datasets.leaf_match import match_leaves
from hgclip.hierarchy import parse_hierarchy_text

TREE = "levels: any\nA > a1\nA > a2\nA > g > x\nA > g > y\nB > b1\n"


def test_stratified_base_new_halves_each_leaf_parent_at_any_depth():
    h = parse_hierarchy_text(TREE)
    # leaf parents: A {a1, a2}, g {x, y}, B {b1}: base takes the first half of each (a one-child parent: base)
    assert subsample_leaves(h, "base", "stratified") == [0, 2, 4]
    assert subsample_leaves(h, "new", "stratified") == [1, 3]
    assert h.restrict([1, 3]).any_depth and h.restrict([1, 3]).leaf_levels == (1, 2)


def test_a_ragged_hierarchy_file_overrides_a_dataset_tree_in_the_dataset_leaf_order(tmp_path):
    full = parse_hierarchy_text("levels: group > leaf\nG > x\nG > y\nG > a1\nH > a2\nH > b1\n")
    path = tmp_path / "ragged.txt"
    path.write_text("levels: any\nranks: kingdom > genus\nA @kingdom > a1\nA > a2\nA > g @genus > x\n"
                    "A > g > y\nB @kingdom > b1\n")
    tree = override_hierarchy(full, str(path))
    assert tree.leaf_names == full.leaf_names and tree.any_depth
    assert tree.paths[0] == ("A", "g", "x") and tree.leaf_levels == (2, 2, 1, 1, 1)
    assert tree.path_ranks(0) == ["kingdom", "genus", None]  # the ranks travel with the nodes


def test_class_names_match_a_ragged_tree_keeping_its_ranks():
    tree = parse_hierarchy_text("levels: any\nranks: order > species\nO @order > s1 @species\nO > F > s2 @species\n")
    matched = match_leaves(tree, ["S2", "s1"], "test")
    assert matched.any_depth and matched.leaf_names == ("S2", "s1")
    assert [matched.path_ranks(leaf) for leaf in (0, 1)] == [["order", None, "species"], ["order", "species"]]
