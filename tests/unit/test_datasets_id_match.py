"""A DATASET.HIERARCHY_FILE keyed by WordNet id (Making Better Mistakes' mbm_imagenet.txt) on ImageNet
(datasets/id_match.py): matched by the classes' wnids on this project's reader and on a checkout's flat
dataset, leaves named as the dataset names its classes, inner wnids named from words.txt."""
from __future__ import annotations

import os
import types

import pytest
from dataset_fixtures import imagenet_classes, make_cfg, put_image, write_classnames, write_wordnet

from hgclip.datasets.attach import dataset_hierarchy
from hgclip.datasets.base import resolve_hierarchy_file
from hgclip.datasets.imagenet import read_wnid_list
from hgclip.datasets.wordnet import distinct_names
from hgclip.hierarchy import load_hierarchy
from hgclip.runtime.dassl_api import build_dataset

WNIDS = [f"n0100000{i}" for i in range(1, 6)]  # sorted: the dataset's label order
W0, W1, W2, W3, W4 = WNIDS
# leaves at depths 2 and 3, listed in another order than the labels; one leaf (n01999999) is no class;
# n90000005 and n90000006 share their first synonym "crane" in write_wordnet's words.txt
TINY_ISA = f"""# a tiny WordNet-id tree in Making Better Mistakes' edge-list form
format: edges
n92000000 n91000001
n91000001 n90000001
n90000001 {W4}
n91000001 {W3}
n92000000 n91000000
n91000000 n90000005
n91000000 n90000006
n90000005 {W0}
n90000006 {W1}
n90000006 {W2}
n90000001 n01999999
[names]
n90000001\tnamed group
"""
EXPECTED_PATHS = (
    ("animal", "crane", f"class {W0}"),
    ("animal", "crane, lifting device", f"synset {W1}"),  # "twin class" twice: the reader's leaf names
    ("animal", "crane, lifting device", f"synset {W2}"),
    ("artifact", f"class {W3}"),
    ("artifact", "named group", f"class {W4}"),
)
CHECKOUT_NAMES = [f"class {W0}", "twin class", "twin class", f"class {W3}", f"class {W4}"]  # classnames.txt


def flat(names) -> types.SimpleNamespace:
    """A checkout's flat dataset: only Dassl's lab2cname."""
    return types.SimpleNamespace(lab2cname=dict(enumerate(names)))


def leaf_prompts(hierarchy) -> list[str]:
    return [hierarchy.raw_node_names[node] for node in hierarchy.leaf_nodes]


@pytest.fixture
def tiny(tmp_path):
    """ImageNet in CoOp's layout over five classes, the WordNet files, and TINY_ISA as tiny_isa.txt."""
    root = os.path.join(str(tmp_path), "data")
    write_wordnet(os.path.join(root, "imagenet"), WNIDS)
    write_classnames(os.path.join(root, "imagenet"), WNIDS)
    for index, wnid in enumerate(WNIDS):
        put_image(os.path.join(root, "imagenet", "images", "train", wnid, f"{wnid}_0.JPEG"))
        put_image(os.path.join(root, "imagenet", "images", "val", wnid, f"ILSVRC2012_val_{index:08d}.JPEG"))
    path = os.path.join(str(tmp_path), "tiny_isa.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(TINY_ISA)
    return root, path


def test_imagenet_reader_takes_a_wnid_tree_with_its_class_names_and_label_order(tiny):
    root, path = tiny
    dataset = build_dataset(make_cfg("ImageNet", root, HIERARCHY_FILE=path))
    hierarchy = dataset.hierarchy
    assert hierarchy.any_depth and hierarchy.level_names == ("depth1", "depth2", "depth3")
    assert hierarchy.paths == EXPECTED_PATHS
    assert leaf_prompts(hierarchy) == CHECKOUT_NAMES  # prompts keep classnames.txt ("twin class" twice)
    for item in dataset.train_x + dataset.test:
        assert os.path.basename(os.path.dirname(item.impath)) == WNIDS[item.label]
        assert hierarchy.leaf_names[item.label] == item.classname
    base = build_dataset(make_cfg("ImageNet", root, HIERARCHY_FILE=path, SUBSAMPLE_CLASSES="base"))
    assert base.hierarchy.paths == EXPECTED_PATHS[:3]


def test_checkout_imagenet_gets_the_same_tree_by_wnid(tiny):
    root, path = tiny
    cfg = make_cfg("ImageNet", root, HIERARCHY_FILE=path)
    hierarchy = dataset_hierarchy(flat(CHECKOUT_NAMES), cfg)
    assert hierarchy.paths == EXPECTED_PATHS and leaf_prompts(hierarchy) == CHECKOUT_NAMES
    assert hierarchy == build_dataset(cfg).hierarchy
    half = dataset_hierarchy(flat([CHECKOUT_NAMES[0], CHECKOUT_NAMES[4]]), cfg)  # a checkout's subset, its labels
    assert half.paths == (EXPECTED_PATHS[0], EXPECTED_PATHS[4])


def test_checkout_name_keyed_file_needs_no_imagenet_files(tmp_path):
    path = os.path.join(str(tmp_path), "by_name.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("levels: group > class\nfish > Tench\nbirds > goldfinch\n")
    hierarchy = dataset_hierarchy(flat(["goldfinch", "tench"]), make_cfg("ImageNet", tmp_path, HIERARCHY_FILE=path))
    assert hierarchy.paths == (("birds", "goldfinch"), ("fish", "tench"))


def test_a_class_missing_from_a_wnid_file_is_one_line_on_both_routes(tiny):
    root, path = tiny
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(TINY_ISA.replace(f"n91000001 {W3}\n", ""))
    cfg = make_cfg("ImageNet", root, HIERARCHY_FILE=path)
    for build in (lambda: build_dataset(cfg), lambda: dataset_hierarchy(flat(CHECKOUT_NAMES), cfg)):
        with pytest.raises(ValueError) as error:
            build()
        message = str(error.value)
        assert "\n" not in message and path in message and f"'{W3}'" in message and "1 of the dataset's 5" in message


def test_checkout_wnid_file_without_words_txt_says_both(tiny):
    root, path = tiny
    os.remove(os.path.join(root, "imagenet", "words.txt"))
    with pytest.raises(ValueError) as error:
        dataset_hierarchy(flat(CHECKOUT_NAMES), make_cfg("ImageNet", root, HIERARCHY_FILE=path))
    message = str(error.value)
    assert "\n" not in message and "are not leaves" in message and "words.txt not found" in message


@pytest.fixture
def imagenet_a(tmp_path):
    """ImageNet-A in CoOp's layout (its 200 class folders), the WordNet files, and a wnid tree over the
    fixture's 314 ImageNet classes (a third of them at depth 2, the rest at depth 3)."""
    root = str(tmp_path)
    wnids = imagenet_classes()
    write_wordnet(os.path.join(root, "imagenet"), wnids)
    write_classnames(os.path.join(root, "imagenet-adversarial"), wnids)
    for wnid in read_wnid_list("imagenet_a_wnids.txt"):
        put_image(os.path.join(root, "imagenet-adversarial", "imagenet-a", wnid, f"imagenet-a_{wnid}.jpg"))
    lines = ["format: edges", "n92000000 n91000000", "n92000000 n91000001"]
    lines += [f"n91000000 n9000000{k}" for k in (1, 2)]
    lines += [f"n91000001 {wnid}" if index % 3 == 0 else f"n9000000{index % 3} {wnid}" for index, wnid in enumerate(wnids)]
    path = os.path.join(root, "isa.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return root, path, wnids


def test_imagenet_a_takes_the_larger_wnid_tree_restricted_to_its_200_classes(imagenet_a):
    root, path, wnids = imagenet_a
    dataset = build_dataset(make_cfg("ImageNetA", root, HIERARCHY_FILE=path))
    hierarchy = dataset.hierarchy
    subset = sorted(read_wnid_list("imagenet_a_wnids.txt"))
    expected = [("artifact", f"class {wnid}") if wnids.index(wnid) % 3 == 0
                else ("animal", f"group{wnids.index(wnid) % 3}", f"class {wnid}") for wnid in subset]
    assert hierarchy.paths == tuple(expected) and {len(path) for path in expected} == {2, 3}
    for item in dataset.test:
        assert os.path.basename(os.path.dirname(item.impath)) == subset[item.label]
        assert hierarchy.leaf_names[item.label] == item.classname


def test_imagenet_a_class_missing_from_the_wnid_file_is_one_line(imagenet_a):
    root, path, _ = imagenet_a
    dropped = sorted(read_wnid_list("imagenet_a_wnids.txt"))[7]
    text = open(path, encoding="utf-8").read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in text.splitlines() if not line.endswith(f" {dropped}")))
    with pytest.raises(ValueError) as error:
        build_dataset(make_cfg("ImageNetA", root, HIERARCHY_FILE=path))
    message = str(error.value)
    assert "\n" not in message and path in message and f"'{dropped}'" in message and "1 of the dataset's 200" in message


def test_shipped_mbm_imagenet_holds_the_imagenet_a_and_r_classes_on_a_checkout(imagenet_a):
    root, _, wnids = imagenet_a
    mbm = load_hierarchy(resolve_hierarchy_file("mbm_imagenet.txt"))
    assert mbm.num_leaves == 1000
    for listed in ("imagenet_a_wnids.txt", "imagenet_r_wnids.txt"):
        assert set(read_wnid_list(listed)) <= set(mbm.leaf_names), listed
    subset = sorted(read_wnid_list("imagenet_a_wnids.txt"))
    names = [f"class {wnid}" for wnid in subset]
    hierarchy = dataset_hierarchy(flat(names), make_cfg("ImageNetA", root, HIERARCHY_FILE="mbm_imagenet.txt"))
    assert hierarchy.num_leaves == 200 and list(hierarchy.leaf_names) == names and hierarchy.any_depth


def test_distinct_names_counts_the_names_other_nodes_of_the_level_have():
    words = {"n1": ["dog", "domestic dog"], "n2": ["cat"]}
    assert distinct_names(["n1", "n2"], words, "words.txt") == {"n1": "dog", "n2": "cat"}
    assert distinct_names(["n1", "n2"], words, "words.txt", taken=["dog"]) == {"n1": "dog, domestic dog", "n2": "cat"}
