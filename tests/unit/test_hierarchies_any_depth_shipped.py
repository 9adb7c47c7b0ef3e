"""The field's ragged taxonomies shipped as hierarchy files (issue 25): they load, have the published shape,
replace a dataset's tree by DATASET.HIERARCHY_FILE, and give Making Better Mistakes' published LCA distances."""
from __future__ import annotations

import pytest

from hgclip.datasets.base import override_hierarchy, resolve_hierarchy_file
from hgclip.hierarchy import Hierarchy, load_hierarchy

# file: (leaves, shallowest and deepest leaf depth)
SHAPES = {
    "mbm_imagenet.txt": (1000, 3, 15),
    "mbm_tiered_imagenet.txt": (608, 3, 12),
    "mbm_inaturalist19.txt": (1010, 7, 7),
    "protect_cifar100.txt": (100, 1, 10),
    "protect_imagenet.txt": (1000, 2, 15),
}
# one published pair per distance 1..15, from data/imagenet_ilsvrc_distances.txt.xz of fiveai/making-better-mistakes
MBM_IMAGENET_DISTANCES = [
    ("n02102040", "n02102177", 1), ("n02102177", "n02102480", 2), ("n02100236", "n02102480", 3),
    ("n02088632", "n02094114", 4), ("n02098413", "n02111129", 5), ("n03594945", "n03977966", 6),
    ("n02119022", "n02443484", 7), ("n02443114", "n02494079", 8), ("n03016953", "n04344873", 9),
    ("n01537544", "n02109525", 10), ("n01632458", "n01944390", 11), ("n03791053", "n04209133", 12),
    ("n01986214", "n03709823", 13), ("n02794156", "n09399592", 14), ("n02277742", "n07684084", 15),
]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shipped_taxonomies_have_their_published_shape(name):
    tree = load_hierarchy(resolve_hierarchy_file(name))
    leaves, shallowest, deepest = SHAPES[name]
    depths = [level + 1 for level in tree.leaf_levels]
    assert (tree.num_leaves, min(depths), max(depths)) == (leaves, shallowest, deepest)


def test_mbm_imagenet_tree_gives_the_published_lca_distances():
    tree = load_hierarchy(resolve_hierarchy_file("mbm_imagenet.txt"))
    leaf = {name: index for index, name in enumerate(tree.leaf_names)}
    assert [tree.lca_height(leaf[a], leaf[b]) for a, b, _ in MBM_IMAGENET_DISTANCES] == list(range(1, 16))


def test_protect_cifar100_replaces_a_cifar100_tree_by_hierarchy_file():
    ragged = load_hierarchy(resolve_hierarchy_file("protect_cifar100.txt"))
    names = sorted(ragged.leaf_names)  # CIFAR-100's own class names, in another order than ProTeCt's
    full = Hierarchy(("superclass", "class"), [("any", name) for name in names])
    tree = override_hierarchy(full, "protect_cifar100.txt")
    assert tree.leaf_names == full.leaf_names and tree.any_depth and tree.num_levels == 10


def test_check_lca_compares_a_tree_with_a_distance_file(tmp_path, capsys):
    from hgclip.cli import check_lca

    (tmp_path / "isa.txt").write_text("r A\nr B\nA a1\nA a2\na2 x\nB b1\n")  # leaves a1 (2), x (3), b1 (2)
    (tmp_path / "d.txt").write_text("a1 x 2\na1 b1 3\nx b1 3\na1 a1 0\n")  # 3 - depth of the LCA
    assert check_lca.main([str(tmp_path / "isa.txt"), str(tmp_path / "d.txt")]) == 0
    assert "compared 4 leaf pairs" in capsys.readouterr().out
    (tmp_path / "d.txt").write_text("a1 x 1\n")  # A's longest path down (2) would not be it either
    assert check_lca.main([str(tmp_path / "isa.txt"), str(tmp_path / "d.txt")]) == 1
