"""Any-depth hierarchies: the path format with ``levels: any``, the edge list, ranks, depth/LCA tables.

The test tree (leaves at depths 2, 3 and 4; ``y`` and ``b1`` have one child each)::

    A ─ a1                       leaves, in order: a1 x y1 z b2
      └ a2 ─ x                   global ids: A0 B1 | a1 2, a2 3, b1 4, b2 5 | x6 y7 z8 | y1 9
           └ y ─ y1              heights: A3 B2 a2 2 b1 1 y1, leaves 0; root 4
    B ─ b1 ─ z
      └ b2
"""
import pytest
import torch

from hgclip.hierarchy import HierarchyError, HierarchyFileError, parse_hierarchy_text
from hgclip.hierarchy.cuts import cuts_from_expansion, node_ancestors
from hgclip.hierarchy.edges import hierarchy_from_edges, parse_edge_list
from hgclip.hierarchy.tree import Hierarchy

RAGGED = """levels: any
A > a1
A > a2 > x
A > a2 > y > y1
B > b1 > z
B > b2
"""


@pytest.fixture
def tree():
    return parse_hierarchy_text(RAGGED)


def test_levels_are_depths(tree):
    assert tree.any_depth and tree.ragged
    assert tree.level_names == ("depth1", "depth2", "depth3", "depth4")
    assert tree.level_sizes == (2, 4, 3, 1)
    assert tree.num_leaves == 5 and tree.num_nodes == 10
    assert tree.leaf_names == ("a1", "x", "y1", "z", "b2")
    assert tree.leaf_nodes == (2, 6, 9, 8, 5)
    assert tree.leaf_levels == (1, 2, 3, 2, 1)
    assert tree.node_heights == (3, 2, 0, 2, 1, 0, 0, 1, 0, 0)
    assert tree.ancestors_global.tolist() == [[0, 2, -1, -1], [0, 3, 6, -1], [0, 3, 7, 9], [1, 4, 8, -1], [1, 5, -1, -1]]
    assert tree.level_targets(torch.tensor([4])).tolist() == [[1, 3, -1, -1]]


def test_lca_heights_by_hand(tree):
    # D (4) minus the LCA's depth: z-b2 share B (depth 1) -> 3, though B's longest path down is 2
    expected = [[0, 3, 3, 4, 4], [3, 0, 2, 4, 4], [3, 2, 0, 4, 4], [4, 4, 4, 0, 3], [4, 4, 4, 3, 0]]
    assert tree.lca_height_matrix().tolist() == expected
    assert tree.lca(6, 9) == 3 and tree.lca(2, 8) == -1 and tree.lca_height(1, 2) == 2 and tree.lca_height(3, 4) == 3
    assert tree.node_ancestors_of(9) == [0, 3, 7, 9]


def test_leaf_logits_and_incidence(tree):
    logits = torch.arange(10.0)[None]
    assert tree.leaf_logits(logits).tolist() == [[2.0, 6.0, 9.0, 8.0, 5.0]]
    incidence = tree.node_leaf_incidence()
    assert incidence[3].tolist() == [False, True, True, False, False]
    assert incidence.sum().item() == 2 + 3 + 4 + 3 + 2


def test_restrict_and_round_trip(tree):
    assert parse_hierarchy_text(tree.to_text()) == tree
    sub = tree.restrict([0, 4])
    assert sub.ragged is False and sub.level_names == ("depth1", "depth2") and sub.leaf_names == ("a1", "b2")


def test_fixed_level_header_keeps_the_depth_check():
    with pytest.raises(HierarchyFileError, match=r"<string>:3: expected 2 names"):
        parse_hierarchy_text("levels: a > b\nx > y\nx > z > w\n")


@pytest.mark.parametrize("text, message", [
    ("levels: any\nA > a1\nA > a1 > b\n", r":3: node 'a1' at depth 2 is a leaf of path 1"),
    ("levels: any\nA > a1 > b\nA > a1\n", r":3: leaf 'a1' at depth 2 is an inner node"),
    ("levels: any\nA > b > c\nC > b > d\n", r":3: node 'b' at level 'depth2' has two parents"),
])
def test_any_depth_errors(text, message):
    with pytest.raises(HierarchyFileError, match=message):
        parse_hierarchy_text(text)


def test_ranks_in_the_path_format():
    h = parse_hierarchy_text("levels: any\nranks: order > family > genus > species\n"
                             "Carnivora @order > Felis @genus > cat @species\nCarnivora > Canidae @family > dog @species\n")
    assert h.rank_names == ("order", "family", "genus", "species")
    assert h.path_ranks(0) == ["order", "genus", "species"]  # skips family
    assert parse_hierarchy_text(h.to_text()) == h
    with pytest.raises(HierarchyFileError, match="not finer than its ancestor"):
        parse_hierarchy_text("levels: any\nranks: genus > species\nx @species > y @genus\n")
    with pytest.raises(HierarchyFileError, match=r":3: rank 'kingdom'"):
        parse_hierarchy_text("levels: any\nranks: genus > species\nx @kingdom > y\n")


EDGES = """format: edges
# the root r is implicit
r A
r B
A a1
A a2
a2 x
a2 y
y y1
B b1
b1 z
B b2
X z
"""


def test_edge_list_is_the_same_tree(tree):
    assert parse_edge_list(EDGES) == tree  # X z: z keeps its first parent b1; X is dropped
    assert parse_hierarchy_text(EDGES) == tree


def test_edge_list_names_leaves_and_ranks():
    text = EDGES.replace("format: edges", "format: edges\nranks: order > species") + (
        "[names]\na1\tcat\nx\tcat\tspecies\nA\tAnimal\torder\n[leaves]\nb2\nx\na1\n")
    h = parse_edge_list(text)
    assert h.leaf_names == ("b2", "cat (x)", "cat (a1)")
    assert h.prompt_names() == ["B", "Animal", "b2", "a2", "cat", "cat"]
    assert h.path_ranks(1) == ["order", None, "species"]


@pytest.mark.parametrize("tail, message", [
    ("a2 a2\n", r":14: node 'a2' is its own parent"),
    ("[leaves]\na2\nx\n", r":15: listed leaf 'a2' is an ancestor"),
    ("[leaves]\nnope\n", r":15: leaf 'nope' is in no edge"),
    ("one two three\n", r":14: expected 'parent child'"),
])
def test_edge_list_errors(tail, message):
    with pytest.raises(HierarchyFileError, match=message):
        parse_edge_list(EDGES + tail)


def test_hierarchy_from_edges_with_several_roots():
    h = hierarchy_from_edges([("A", "a"), ("B", "b"), ("b", "c")])
    assert h.paths == (("A", "a"), ("B", "b", "c"))


def test_cuts_on_any_depth(tree):
    table = node_ancestors(tree)
    assert table[9].tolist() == [0, 3, 7, 9] and table[5].tolist() == [1, 5, -1, -1] and table[3].tolist() == [0, 3, -1, -1]
    expand = torch.zeros(1, 10, dtype=torch.bool)
    expand[0, [0, 3]] = True  # expand A and a2: cut {a1, x, y, B}
    masks, leaf_to_node = cuts_from_expansion(expand, table, tree.ancestors_global)
    assert masks[0].nonzero().flatten().tolist() == [1, 2, 6, 7]
    assert leaf_to_node[0].tolist() == [2, 6, 7, 1, 1]


def test_fixed_level_tree_is_unchanged():
    h = Hierarchy(["a", "b"], [["x", "y"], ["x", "z"], ["w", "v"]])
    assert not h.any_depth and not h.ragged and h.leaf_nodes == (2, 3, 4)
    assert h.lca_height_matrix().tolist() == [[0, 1, 2], [1, 0, 2], [2, 2, 0]]
    with pytest.raises(HierarchyError):
        Hierarchy(["a", "b"], [["x", "y"], ["z"]])
