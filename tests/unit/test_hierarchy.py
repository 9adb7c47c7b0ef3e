"""The Hierarchy type and its file format: derived tables, graph, restriction, and rejected files."""
import pytest
import torch

from hgclip.hierarchy import (
    Hierarchy,
    HierarchyError,
    HierarchyFileError,
    load_hierarchy,
    normalize_classname,
    parse_hierarchy_text,
    save_hierarchy,
)

TOY = """\
# a toy taxonomy
levels: family > shape > object

round > circle > red circle
round > ring > red ring
angular > square > red square
round > circle > blue circle
"""


@pytest.fixture
def toy() -> Hierarchy:
    return parse_hierarchy_text(TOY)


def write(tmp_path, text, name="h.txt"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_normalize_classname():
    assert normalize_classname("aquarium_fish") == "aquarium fish"
    assert normalize_classname("  Boeing-737__ 300  ") == "Boeing 737 300"
    assert normalize_classname("a\t b\n c") == "a b c"


def test_levels_sizes_offsets_and_global_order(toy):
    assert toy.level_names == ("family", "shape", "object")
    assert toy.level_sizes == (2, 3, 4)
    assert toy.level_offsets == (0, 2, 5)
    assert toy.num_nodes == 9 and toy.num_leaves == 4
    assert toy.node_names[:2] == ("round", "angular")
    assert toy.leaf_names == ("red circle", "red ring", "red square", "blue circle")
    assert [toy.node_names[i] for i in range(*toy.level_slices[1].indices(9))] == ["circle", "ring", "square"]


def test_ancestor_tables_and_level_targets(toy):
    assert toy.ancestors.tolist() == [[0, 0, 0], [0, 1, 1], [1, 2, 2], [0, 0, 3]]
    assert toy.ancestors_global.tolist() == [[0, 2, 5], [0, 3, 6], [1, 4, 7], [0, 2, 8]]
    targets = toy.level_targets(torch.tensor([3, 2]))
    assert targets.tolist() == [[0, 0, 3], [1, 2, 2]]


def test_parents_children(toy):
    assert toy.parents == (-1, -1, 0, 0, 1, 2, 3, 4, 2)
    assert toy.children[0] == (2, 3) and toy.children[2] == (5, 8) and toy.children[5] == ()


def test_edge_index_directions_and_self_loops(toy):
    down = toy.edge_index("parent_to_child")
    pairs = set(map(tuple, down.t().tolist()))
    assert pairs == {(0, 2), (0, 3), (1, 4), (2, 5), (3, 6), (4, 7), (2, 8)}
    up = toy.edge_index("child_to_parent")
    assert set(map(tuple, up.t().tolist())) == {(c, p) for p, c in pairs}
    both = toy.edge_index("both", self_loops=True)
    assert both.shape == (2, 2 * 7 + 9)
    assert len(set(map(tuple, both.t().tolist()))) == both.shape[1], "no duplicate edges"
    with pytest.raises(ValueError, match="edge direction"):
        toy.edge_index("sideways")


def test_split_logits_and_width_check(toy):
    logits = torch.arange(18.0).reshape(2, 9)
    parts = toy.split_logits(logits)
    assert [p.shape[1] for p in parts] == [2, 3, 4]
    assert parts[2][0].tolist() == [5.0, 6.0, 7.0, 8.0]
    with pytest.raises(ValueError, match="expected logits over 9 nodes"):
        toy.split_logits(torch.zeros(2, 8))


def test_incidence_and_lca_height(toy):
    inc = toy.node_leaf_incidence()
    assert inc[0].tolist() == [True, True, False, True]  # round covers circles and ring
    assert inc[2].tolist() == [True, False, False, True]
    lca = toy.lca_height_matrix()
    assert lca.tolist() == [[0, 2, 3, 1], [2, 0, 3, 2], [3, 3, 0, 3], [1, 2, 3, 0]]


def test_restrict_keeps_ancestors_and_relabels(toy):
    sub = toy.restrict([3, 1])
    assert sub.leaf_names == ("red ring", "blue circle")
    assert sub.names_at_level(0) == ["round"]
    assert set(sub.names_at_level(1)) == {"ring", "circle"}
    for leaf, path in enumerate(sub.paths):
        assert sub.node_names[sub.ancestors_global[leaf, -1]] == path[-1]
    with pytest.raises(HierarchyError):
        toy.restrict([])


def test_roundtrip_text_file_and_digest(toy, tmp_path):
    path = str(tmp_path / "out.txt")
    save_hierarchy(toy, path, comment="written by a test")
    again = load_hierarchy(path)
    assert again == toy and again.digest() == toy.digest()
    assert toy.restrict([0, 1]).digest() != toy.digest()


def test_same_name_at_two_levels_is_allowed():
    h = parse_hierarchy_text("levels: a > b\nplants > plants\nplants > trees\n")
    assert h.level_sizes == (1, 2)


def test_names_normalised_on_load():
    h = parse_hierarchy_text("levels: coarse > fine\naquatic_mammals > sea-otter\n")
    assert h.paths == (("aquatic mammals", "sea otter"),)


# ---------------------------------------------------------------- rejected files
@pytest.mark.parametrize(
    "text, line, message",
    [
        ("levels: a > b\nx > leaf\ny > leaf\n", 3, "duplicate leaf 'leaf'"),
        ("levels: a > b > c\nx > m > l1\ny > m > l2\n", 3, "node 'm' at level 'b' has two parents: 'x' and 'y'"),
        ("levels: a > b > c\nx > m > l1\nx > l2\n", 3, "expected 3 names (a > b > c), got 2"),
        ("levels: a > b > c\nx >  > l1\n", 2, "empty name at level 2 (b)"),
        ("levels: a > b\nx > \n", 2, "empty name at level 2 (b)"),
        ("", 1, "empty hierarchy file"),
        ("# only a comment\n\n", 2, "empty hierarchy file"),
        ("levels: a > b\n# no paths\n", 2, "no root-to-leaf paths after the header"),
        ("x > y\n", 1, "expected the header 'levels:"),
        ("levels: a >  > c\n", 1, "empty level name"),
    ],
    ids=["duplicate-leaf", "two-parents", "ragged", "empty-name", "empty-leaf", "empty-file",
         "comments-only", "header-only", "missing-header", "empty-level-name"],
)
def test_rejected_files_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(HierarchyFileError) as info:
        load_hierarchy(path)
    error = str(info.value)
    assert error.startswith(f"{path}:{line}: ")
    assert message in error
    assert "\n" not in error


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="hierarchy file not found"):
        load_hierarchy("/nonexistent/h.txt")


def test_constructor_rejects_bad_paths():
    with pytest.raises(HierarchyError, match="duplicate leaf"):
        Hierarchy(["a", "b"], [["x", "l"], ["y", "l"]])
    with pytest.raises(HierarchyError, match="at least one"):
        Hierarchy(["a"], [])
