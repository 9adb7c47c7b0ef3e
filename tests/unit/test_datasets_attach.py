"""The hierarchy a CoOp/MaPLe checkout's flat dataset gets by its DATASET.NAME (datasets/attach.py), in-process.

Same tree, aliases and shared-name rule as this project's own reader of that dataset
(HierarchicalDataset.hierarchy_for_classes); a one-line warning and one flat level where none is shipped.
"""
from __future__ import annotations

import os
import types

import pytest
from dataset_fixtures import make_cfg, raw_leaves, write_classnames, write_coop_split, write_fgvc_aircraft, write_wordnet

from hgclip.datasets.attach import dataset_hierarchy, project_dataset_for
from hgclip.datasets.checks import DatasetLayoutError
from hgclip.datasets.coop_datasets import Caltech101, OxfordFlowers
from hgclip.runtime.dassl_api import build_dataset

CHECKOUT_NAMES = ("OxfordPets", "OxfordFlowers", "FGVCAircraft", "DescribableTextures", "EuroSAT", "StanfordCars",
                  "Food101", "SUN397", "Caltech101", "UCF101", "ImageNet", "ImageNetV2", "ImageNetSketch",
                  "ImageNetA", "ImageNetR")


def flat(names) -> types.SimpleNamespace:
    """A checkout's flat dataset: only Dassl's lab2cname."""
    return types.SimpleNamespace(lab2cname=dict(enumerate(names)))


def flowers_names(lotus: str = "lotus") -> list[str]:
    return [lotus if name == "lotus lotus" else name for name in raw_leaves(OxfordFlowers.hierarchy_file)]


@pytest.mark.parametrize("name", CHECKOUT_NAMES)
def test_every_coop_dataset_name_has_this_projects_dataset(name):
    cls = project_dataset_for(name)
    assert cls is not None and cls.__name__ == name


@pytest.mark.parametrize("lotus", ["lotus", "lotus lotus"])
def test_flowers_class_78_in_either_spelling_as_the_reader_accepts_it(tmp_path, lotus):
    names = flowers_names(lotus)
    hierarchy = dataset_hierarchy(flat(names), make_cfg("OxfordFlowers", tmp_path))
    assert hierarchy.level_names == ("family", "flower") and hierarchy.num_leaves == 102
    assert hierarchy.paths[77] == ("Nelumbonaceae", lotus)
    write_coop_split(tmp_path, OxfordFlowers, per_split={"train": 1, "test": 1}, classnames=names)
    assert build_dataset(make_cfg("OxfordFlowers", tmp_path)).hierarchy == hierarchy  # the reader's tree


def test_a_base_half_in_another_case_gets_its_subtree_in_its_label_order(tmp_path):
    leaves = [leaf for leaf in raw_leaves(Caltech101.hierarchy_file) if leaf != "faces_easy"]
    names = [leaf.upper() for leaf in leaves[:50]][::-1]
    hierarchy = dataset_hierarchy(flat(names), make_cfg("Caltech101", tmp_path))
    assert hierarchy.level_names == ("category", "group", "class") and hierarchy.raw_node_names[-50:] == tuple(names)


def test_fgvc_aircraft_gets_the_tree_of_its_annotations_with_variants_as_written(tmp_path):
    write_fgvc_aircraft(tmp_path)
    names = ["707-320", "737-200", "737-300", "A300B4", "DC-10", "F-16A/B", "Falcon 2000"]
    hierarchy = dataset_hierarchy(flat(names), make_cfg("FGVCAircraft", tmp_path))
    assert hierarchy.level_names == ("manufacturer", "family", "variant") and hierarchy.level_sizes == (5, 6, 7)
    assert hierarchy.raw_paths[0] == ("Boeing", "Boeing 707", "707-320")
    assert hierarchy.prompt_names("official")[-7:] == names
    assert build_dataset(make_cfg("FGVCAircraft", tmp_path)).hierarchy == hierarchy


def test_fgvc_aircraft_without_its_annotations_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        dataset_hierarchy(flat(["707-320"]), make_cfg("FGVCAircraft", tmp_path))
    assert "\n" not in str(error.value) and "fgvc_aircraft" in str(error.value)


@pytest.fixture
def imagenet_meta(tmp_path):
    """classnames.txt (two classes named "twin class") in every ImageNet folder, and the WordNet files."""
    from dataset_fixtures import imagenet_classes

    wnids = imagenet_classes()
    write_wordnet(os.path.join(str(tmp_path), "imagenet"), wnids)
    for folder in ("imagenet", "imagenetv2", "imagenet-sketch", "imagenet-adversarial", "imagenet-rendition"):
        write_classnames(os.path.join(str(tmp_path), folder), wnids)
    names = [f"class {wnid}" for wnid in wnids]
    names[1] = names[2] = "twin class"
    return tmp_path, wnids, names


@pytest.mark.parametrize("name", ["ImageNet", "ImageNetV2", "ImageNetSketch"])
def test_imagenet_classes_sharing_a_name_are_two_leaves_in_label_order(imagenet_meta, name):
    root, wnids, names = imagenet_meta
    hierarchy = dataset_hierarchy(flat(names), make_cfg(name, root))
    assert hierarchy.level_names == ("parent", "class") and hierarchy.num_leaves == len(wnids)
    assert hierarchy.leaf_names[1:3] == (f"synset {wnids[1]}", f"synset {wnids[2]}")  # as the reader names them
    assert hierarchy.prompt_names("official")[hierarchy.level_offsets[-1] + 1:][:2] == ["twin class", "twin class"]
    project = project_dataset_for(name)
    assert hierarchy == project.class_tree(make_cfg(name, root)).hierarchy


def test_imagenet_a_gets_the_tree_restricted_to_its_200_classes(imagenet_meta):
    from hgclip.datasets.imagenet import read_wnid_list

    root, wnids, names = imagenet_meta
    keep = set(read_wnid_list("imagenet_a_wnids.txt"))
    subset = [name for wnid, name in zip(wnids, names) if wnid in keep]
    hierarchy = dataset_hierarchy(flat(subset), make_cfg("ImageNetA", root))
    assert hierarchy.num_leaves == 200 and hierarchy.level_names == ("parent", "class")


def test_a_shared_name_the_checkout_has_once_cannot_be_placed(imagenet_meta):
    root, _, names = imagenet_meta
    with pytest.raises(ValueError, match="1 class.es. named 'twin class' but the tree 2 leaves.*DATASET.HIERARCHY_FILE"):
        dataset_hierarchy(flat(names[2:]), make_cfg("ImageNet", root))


def test_imagenet_without_the_wordnet_files_says_what_to_put_where(imagenet_meta):
    root, _, names = imagenet_meta
    os.remove(os.path.join(str(root), "imagenet", "words.txt"))
    with pytest.raises(DatasetLayoutError) as error:
        dataset_hierarchy(flat(names), make_cfg("ImageNetSketch", root))
    message = str(error.value)
    assert "\n" not in message and "words.txt not found" in message and "DATASET.WORDNET.DIR" in message


def test_a_dataset_without_a_hierarchy_runs_flat_with_a_one_line_warning(tmp_path, capsys):
    hierarchy = dataset_hierarchy(flat(["cat", "dog", "cat"]), make_cfg("SomeCheckoutDataset", tmp_path))
    assert hierarchy.level_names == ("class",) and hierarchy.num_leaves == 3
    assert hierarchy.prompt_names("official") == ["cat", "dog", "cat"]
    warning = capsys.readouterr().err.strip()
    assert "\n" not in warning and "SomeCheckoutDataset" in warning and "DATASET.HIERARCHY_FILE" in warning
