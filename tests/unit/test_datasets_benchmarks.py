"""The benchmark datasets on fixture trees in their real formats (tests/dataset_fixtures.py).

Per dataset: class count per level, the leaf -> ancestor mapping of sample images, base/new
splitting, few-shot sampling, and the error for one broken input.
"""
from __future__ import annotations

import math
import os

import pytest
from dataset_fixtures import (
    fruit_folders,
    make_cfg,
    put_image,
    raw_leaves,
    write_breeds,
    write_coop_split,
    write_fruits360,
    write_imagenet_family,
)
from run_helpers import REPO

from hgclip.datasets.checks import DatasetLayoutError
from hgclip.datasets.coop_datasets import Caltech101, Food101, OxfordPets
from hgclip.hierarchy import load_hierarchy, normalize_classname
from hgclip.runtime.dassl_api import DATASET_REGISTRY, build_dataset


def path_names(dataset, item) -> tuple[str, ...]:
    """The names of the item's nodes, coarse -> fine."""
    hierarchy = dataset.hierarchy
    return tuple(hierarchy.names_at_level(level)[index] for level, index in enumerate(hierarchy.ancestors[item.label].tolist()))


def first_item(dataset, classname: str):
    classname = normalize_classname(classname)
    return next(item for item in dataset.train_x if item.classname == classname)


def keys(data) -> list[tuple[str, int]]:
    return [(item.impath, item.label) for item in data]


def assert_consistent(dataset) -> None:
    for item in dataset.train_x + dataset.val + dataset.test:
        assert dataset.hierarchy.leaf_names[item.label] == item.classname


# ---------------------------------------------------------------------------------- CoOp split datasets
COOP = {  # name: (level sizes as loaded, [(CoOp class name, its path coarse -> fine)])
    "OxfordPets": ((2, 37), [("abyssinian", ("Cat", "abyssinian")), ("yorkshire_terrier", ("Dog", "yorkshire terrier"))]),
    "StanfordCars": ((9, 196), [("2012 Acura ZDX Hatchback", ("Hatchback", "2012 Acura ZDX Hatchback")),
                                ("2000 AM General Hummer SUV", ("SUV", "2000 AM General Hummer SUV"))]),
    "Caltech101": ((11, 51, 100), [("airplane", ("transportation", "aircraft", "airplane")),
                                   ("face", ("human anatomy", "facial features", "face"))]),
    "Food101": ((18, 101), [("apple_pie", ("dessert", "apple pie")), ("sushi", ("sushi", "sushi"))]),
    "DescribableTextures": ((6, 47), [("polka-dotted", ("spot patterns", "polka dotted"))]),
    "EuroSAT": ((4, 10), [("Sea or Lake", ("water bodies", "Sea or Lake")),
                          ("Highway or Road", ("artificial surfaces", "Highway or Road"))]),
    "SUN397": ((3, 16, 397), [("abbey", ("outdoor man made", "cultural or historical building/place", "abbey")),
                              ("outdoor apartment_building", ("outdoor man made",
                               "commercial buildings, shops, markets, cities, and towns", "outdoor apartment building"))]),
    "OxfordFlowers": ((46, 102), [("sword lily", ("Iridaceae", "sword lily")), ("lotus lotus", ("Nelumbonaceae", "lotus lotus"))]),
    "UCF101": ((5, 101), [("Apply_Eye_Makeup", ("Human Object Interaction", "Apply Eye Makeup")),
                          ("Yo_Yo", ("Human Object Interaction", "Yo Yo")), ("Sky_Diving", ("Sports", "Sky Diving"))]),
}


@pytest.fixture(scope="module")
def coop_root(tmp_path_factory):
    """One root holding every CoOp dataset in its layout (2 train, 1 val, 1 test image per class)."""
    root = tmp_path_factory.mktemp("coop")
    for name in COOP:
        write_coop_split(root, DATASET_REGISTRY.get(name))
    return root


@pytest.mark.parametrize("name", list(COOP))
def test_coop_dataset_levels_and_ancestors(coop_root, name):
    sizes, samples = COOP[name]
    dataset = build_dataset(make_cfg(name, coop_root))
    assert dataset.hierarchy.level_sizes == sizes
    n = sizes[-1]
    assert (len(dataset.train_x), len(dataset.val), len(dataset.test)) == (2 * n, n, n)
    for classname, expected in samples:
        assert path_names(dataset, first_item(dataset, classname)) == expected
    assert_consistent(dataset)
    assert not dataset.test_only


@pytest.mark.parametrize("name", list(COOP))
def test_coop_dataset_base_new_and_fewshot(coop_root, name):
    cls = DATASET_REGISTRY.get(name)
    unused = {normalize_classname(leaf) for leaf in cls.unused_leaves}
    labelled = [normalize_classname(leaf) for leaf in raw_leaves(cls.hierarchy_file) if normalize_classname(leaf) not in unused]
    cut = math.ceil(len(labelled) / 2)
    base = build_dataset(make_cfg(name, coop_root, NUM_SHOTS=1, SUBSAMPLE_CLASSES="base"))
    new = build_dataset(make_cfg(name, coop_root, NUM_SHOTS=1, SUBSAMPLE_CLASSES="new"))
    assert base.hierarchy.leaf_names == tuple(labelled[:cut])  # CoOp's first half of its labels
    assert new.hierarchy.leaf_names == tuple(labelled[cut:])
    assert len(base.train_x) == cut and len(new.train_x) == len(labelled) - cut  # 1 shot per class
    assert len(base.val) == cut and len(base.test) == cut
    assert sorted(item.label for item in base.train_x) == list(range(cut))
    assert os.path.isfile(os.path.join(base.dataset_dir, "split_fewshot", "hgclip_shot_1-seed_1.json"))
    assert_consistent(base)
    assert_consistent(new)


@pytest.mark.parametrize("name", list(COOP))
def test_coop_dataset_without_its_split_file(tmp_path, name):
    cls = DATASET_REGISTRY.get(name)
    image_dir = os.path.join(str(tmp_path), cls.folder, cls.image_subdir)
    os.makedirs(image_dir)
    with pytest.raises(DatasetLayoutError) as error:
        build_dataset(make_cfg(name, tmp_path))
    message = str(error.value)
    assert "\n" not in message
    assert os.path.join(str(tmp_path), cls.folder, cls.split_file) in message
    assert f"<DATASET.ROOT>/{cls.folder}/" in message and "DATASETS.md" in message


def test_coop_leaf_order_follows_the_split_labels(tmp_path):
    """Base/new must be CoOp's halves whatever the hierarchy file's line order: labels decide."""
    leaves = [leaf for leaf in raw_leaves(Caltech101.hierarchy_file) if leaf != "faces_easy"]
    write_coop_split(tmp_path, Caltech101, per_split={"train": 1, "test": 1}, labels=list(range(len(leaves)))[::-1])
    dataset = build_dataset(make_cfg("Caltech101", tmp_path))
    assert dataset.hierarchy.leaf_names[0] == normalize_classname(leaves[-1])
    base = build_dataset(make_cfg("Caltech101", tmp_path, SUBSAMPLE_CLASSES="base"))
    assert set(base.hierarchy.leaf_names) == {normalize_classname(leaf) for leaf in leaves[50:]}


def test_coop_class_names_that_are_not_leaves_are_listed(tmp_path):
    names = [leaf for leaf in raw_leaves(Food101.hierarchy_file)]
    names[0] = "apple_tart"  # not a Food-101 class
    write_coop_split(tmp_path, Food101, per_split={"train": 1}, classnames=names)
    with pytest.raises(ValueError) as error:
        build_dataset(make_cfg("Food101", tmp_path))
    message = str(error.value)
    assert "\n" not in message
    assert "'apple_tart'" in message and "'apple_pie'" in message and "food101.txt" in message  # as the files spell them


def test_coop_split_with_a_class_under_two_labels_is_an_error(tmp_path):
    write_coop_split(tmp_path, OxfordPets, per_split={"train": 1})
    split = os.path.join(str(tmp_path), "oxford_pets", "split_zhou_OxfordPets.json")
    text = open(split).read().replace('0, "abyssinian"]', '5, "abyssinian"]')
    open(split, "w").write(text)
    with pytest.raises(ValueError, match=r"split_zhou_OxfordPets\.json:train\[5\]: label 5 is used for both .abyssinian. and .bengal."):
        build_dataset(make_cfg("OxfordPets", tmp_path))


# ---------------------------------------------------------------------------------- unreadable images
@pytest.fixture
def pets_root(tmp_path):
    write_coop_split(tmp_path, OxfordPets, per_split={"train": 2, "val": 1, "test": 1})
    return tmp_path


def _pets_image(root, classname: str, split: str = "train") -> str:
    import json

    rows = json.load(open(os.path.join(str(root), "oxford_pets", "split_zhou_OxfordPets.json")))[split]
    relpath = next(row[0] for row in rows if row[2] == classname)
    return os.path.join(str(root), "oxford_pets", "images", relpath)


def test_an_empty_image_stops_loading_or_is_skipped(pets_root, capsys):
    broken = _pets_image(pets_root, "beagle")
    open(broken, "wb").close()
    with pytest.raises(OSError) as error:
        build_dataset(make_cfg("OxfordPets", pets_root))
    assert broken in str(error.value) and "empty file" in str(error.value) and "SKIP_UNREADABLE" in str(error.value)
    dataset = build_dataset(make_cfg("OxfordPets", pets_root, SKIP_UNREADABLE=True))
    assert len(dataset.train_x) == 2 * 37 - 1 and broken not in {item.impath for item in dataset.train_x}
    assert f"skipped 1 unusable image(s) (DATASET.SKIP_UNREADABLE); first: {broken} (empty file)" in capsys.readouterr().out


def test_a_missing_image_is_skipped_with_the_option(pets_root):
    missing = _pets_image(pets_root, "pug", split="train")  # pug keeps one training image (a class without
    os.remove(missing)                                       # any image in a split is an error of its own)
    with pytest.raises(OSError, match="not found"):
        build_dataset(make_cfg("OxfordPets", pets_root))
    assert len(build_dataset(make_cfg("OxfordPets", pets_root, SKIP_UNREADABLE=True)).train_x) == 2 * 37 - 1


def test_header_check_catches_a_file_that_is_not_an_image(pets_root):
    fake = _pets_image(pets_root, "boxer")
    open(fake, "w").write("<html>404 not found</html>")
    assert len(build_dataset(make_cfg("OxfordPets", pets_root)).train_x) == 2 * 37  # the default check only stats
    with pytest.raises(OSError) as error:
        build_dataset(make_cfg("OxfordPets", pets_root, CHECK_IMAGES="header"))
    assert fake in str(error.value) and "UnidentifiedImageError" in str(error.value)
    skipped = build_dataset(make_cfg("OxfordPets", pets_root, CHECK_IMAGES="decode", SKIP_UNREADABLE=True))
    assert len(skipped.train_x) == 2 * 37 - 1


def test_image_check_modes_are_validated(pets_root):
    with pytest.raises(ValueError, match="DATASET.CHECK_IMAGES must be one of exists, header, decode"):
        build_dataset(make_cfg("OxfordPets", pets_root, CHECK_IMAGES="thorough"))


# ---------------------------------------------------------------------------------- Fruits-360
@pytest.fixture(scope="module")
def fruits_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fruits")
    write_fruits360(root)
    return root


def test_fruits360_levels_ancestors_and_merged_variants(fruits_root):
    dataset = build_dataset(make_cfg("Fruits360", fruits_root, VAL_FRACTION=0.0))
    assert dataset.hierarchy.level_sizes == (4, 69, 113)
    assert path_names(dataset, first_item(dataset, "apple golden")) == ("fruit", "apple", "apple golden")
    assert path_names(dataset, first_item(dataset, "ginger root")) == ("spice", "ginger root", "ginger root")
    golden = [item for item in dataset.train_x if item.classname == "apple golden"]
    assert len(golden) == 3 * 2 and {os.path.basename(os.path.dirname(i.impath)) for i in golden} == set(fruit_folders("apple golden"))
    assert len(dataset.test) == sum(len(fruit_folders(leaf)) for leaf in raw_leaves("fruits360.txt"))
    assert_consistent(dataset)


def test_fruits360_corrected_hierarchy_base_new_and_fewshot(fruits_root):
    corrected = build_dataset(make_cfg("Fruits360", fruits_root, HIERARCHY_FILE="fruits360_corrected.txt"))
    official = load_hierarchy(os.path.join(REPO, "datasets", "hierarchies", "fruits360.txt"))
    assert corrected.hierarchy.level_sizes == (4, 13, 113)
    assert corrected.hierarchy.leaf_names == official.leaf_names  # the dataset's label order is kept
    assert path_names(corrected, first_item(corrected, "corn husk")) == ("vegetable", "sweet corn", "corn husk")
    new = build_dataset(make_cfg("Fruits360", fruits_root, HIERARCHY_FILE="fruits360_corrected.txt",
                                 NUM_SHOTS=1, SUBSAMPLE_CLASSES="new"))
    assert new.hierarchy.leaf_names == official.leaf_names[57:] and len(new.train_x) == 113 - 57
    assert path_names(new, first_item(new, "tomato maroon")) == ("vegetable", "fruit vegetables", "tomato maroon")
    assert_consistent(new)


def test_fruits360_folders_of_another_release_are_listed(fruits_root, tmp_path):
    write_fruits360(tmp_path, per_folder={"Training": 1, "Test": 1})
    put_image(os.path.join(str(tmp_path), "fruits-360", "fruits-360_dataset", "fruits-360", "Training", "Zucchini 1", "0.jpg"))
    with pytest.raises(ValueError) as error:
        build_dataset(make_cfg("Fruits360", tmp_path))
    assert "'zucchini'" in str(error.value) and "fruits360.txt" in str(error.value)


def test_fruits360_missing_root_gives_layout_and_download(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"Training/ and Test/.*kaggle\.com/datasets/moltean/fruits"):
        build_dataset(make_cfg("Fruits360", tmp_path))


# ---------------------------------------------------------------------------------- ImageNet family
@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    tree = write_imagenet_family(root)
    return root, tree


def test_imagenet_wordnet_hierarchy_first_parent_rule(imagenet_root):
    root, tree = imagenet_root
    wnids = tree["wnids"]
    dataset = build_dataset(make_cfg("ImageNet", root))
    hierarchy = dataset.hierarchy
    assert hierarchy.level_names == ("parent", "class") and hierarchy.level_sizes == (7, len(wnids))
    assert hierarchy.leaf_names[0] == "class " + wnids[0]  # classnames.txt names, sorted wnids
    assert hierarchy.leaf_names[1:3] == (f"synset {wnids[1]}", f"synset {wnids[2]}")  # a shared name: words.txt
    assert path_names(dataset, dataset.test[0])[0] == "group0"  # first listed parent, not the later n90000003
    parents = hierarchy.names_at_level(0)
    assert "crane" in parents and "crane, lifting device" in parents  # two synsets, two nodes
    assert (len(dataset.train_x), len(dataset.val), len(dataset.test)) == (len(wnids), 0, len(wnids))
    assert {os.path.basename(os.path.dirname(os.path.dirname(i.impath))) for i in dataset.test} == {"val"}
    assert not dataset.test_only
    assert_consistent(dataset)


def test_imagenet_three_levels_base_new_and_fewshot(imagenet_root):
    root, tree = imagenet_root
    wnids = tree["wnids"]
    dataset = build_dataset(make_cfg("ImageNet", root, WORDNET__LEVELS=3, NUM_SHOTS=1, SUBSAMPLE_CLASSES="base"))
    assert dataset.full_hierarchy.level_names == ("grandparent", "parent", "class")
    assert dataset.full_hierarchy.level_sizes == (2, 7, len(wnids))
    cut = math.ceil(len(wnids) / 2)
    assert dataset.hierarchy.num_leaves == cut and len(dataset.train_x) == cut
    assert path_names(dataset, dataset.train_x[0]) == ("animal", "group0", "class " + wnids[0])


@pytest.mark.parametrize("name, listed", [("ImageNetA", "imagenet_a_wnids.txt"), ("ImageNetR", "imagenet_r_wnids.txt")])
def test_imagenet_a_and_r_keep_their_200_classes_and_the_restricted_tree(imagenet_root, name, listed):
    from hgclip.datasets.imagenet import read_wnid_list

    root, tree = imagenet_root
    source = build_dataset(make_cfg("ImageNet", root))
    target = build_dataset(make_cfg(name, root, NUM_SHOTS=16))
    subset = read_wnid_list(listed)
    assert target.hierarchy.num_leaves == 200 and target.test_only
    kept = [tree["wnids"].index(wnid) for wnid in subset]
    assert target.hierarchy == source.hierarchy.restrict(kept)  # same node names as the source's
    assert len(target.test) == 200 and keys(target.train_x) == keys(target.test)  # NUM_SHOTS is not applied
    assert_consistent(target)


def test_imagenet_v2_and_sketch_are_test_only_with_the_full_tree(imagenet_root):
    root, tree = imagenet_root
    v2 = build_dataset(make_cfg("ImageNetV2", root))
    sketch = build_dataset(make_cfg("ImageNetSketch", root))
    source = build_dataset(make_cfg("ImageNet", root))
    for target in (v2, sketch):
        assert target.test_only and target.hierarchy == source.hierarchy and len(target.test) == len(tree["wnids"])
        assert_consistent(target)
    folder_of = {item.label: os.path.basename(os.path.dirname(item.impath)) for item in v2.test}
    assert folder_of[5] == "5" and folder_of[len(tree["wnids"]) - 1] == str(len(tree["wnids"]) - 1)
    base = build_dataset(make_cfg("ImageNetV2", root, SUBSAMPLE_CLASSES="base"))
    assert base.hierarchy.num_leaves == math.ceil(len(tree["wnids"]) / 2)


def test_imagenet_without_wordnet_files(tmp_path):
    os.makedirs(os.path.join(str(tmp_path), "imagenet", "images", "train"))
    os.makedirs(os.path.join(str(tmp_path), "imagenet", "images", "val"))
    open(os.path.join(str(tmp_path), "imagenet", "classnames.txt"), "w").write("n01440764 tench\n")
    with pytest.raises(DatasetLayoutError) as error:
        build_dataset(make_cfg("ImageNet", tmp_path))
    message = str(error.value)
    assert "wordnet.is_a.txt not found" in message and "DATASET.WORDNET.DIR" in message and "image-net.org" in message


def test_imagenet_a_with_a_missing_class_folder(imagenet_root, tmp_path):
    import shutil

    root, _ = imagenet_root
    copy = os.path.join(str(tmp_path), "imagenet-adversarial")
    shutil.copytree(os.path.join(str(root), "imagenet-adversarial"), copy)
    os.symlink(os.path.join(str(root), "imagenet"), os.path.join(str(tmp_path), "imagenet"))
    shutil.rmtree(os.path.join(copy, "imagenet-a", "n01498041"))
    with pytest.raises(ValueError) as error:
        build_dataset(make_cfg("ImageNetA", tmp_path))
    assert "'n01498041'" in str(error.value) and "class folders do not match" in str(error.value)


# ---------------------------------------------------------------------------------- BREEDS
BREEDS = {"Living17": (4, 8), "Nonliving26": (4, 8), "Entity13": (2, 20), "Entity30": (4, 16)}  # per split


@pytest.fixture(scope="module")
def breeds_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("breeds")
    tree = write_breeds(root)
    return root, tree


@pytest.mark.parametrize("name", list(BREEDS))
def test_breeds_source_and_target_subpopulations(breeds_root, name):
    root, tree = breeds_root
    superclasses, leaves = BREEDS[name]
    source = build_dataset(make_cfg(name, root))
    target = build_dataset(make_cfg(name, root, BREEDS__SPLIT="target"))
    assert source.hierarchy.level_names == ("superclass", "subclass")
    assert source.hierarchy.level_sizes == target.hierarchy.level_sizes == (superclasses, leaves)
    assert source.hierarchy.names_at_level(0) == target.hierarchy.names_at_level(0)
    assert not set(source.hierarchy.leaf_names) & set(target.hierarchy.leaf_names)
    assert not source.test_only and target.test_only and keys(target.train_x) == keys(target.test)
    assert len(source.train_x) + len(source.val) == 2 * leaves and len(source.test) == leaves and len(target.test) == leaves
    assert {os.path.basename(os.path.dirname(os.path.dirname(i.impath))) for i in target.test} == {"val"}
    assert_consistent(source)
    assert_consistent(target)


def test_breeds_good_split_spreads_siblings_and_uses_longest_depth(breeds_root):
    root, tree = breeds_root
    source = build_dataset(make_cfg("Living17", root))
    target = build_dataset(make_cfg("Living17", root, BREEDS__SPLIT="target"))
    # the first kind E11 has two sorts of two classes each: "good" puts one class of each sort on each side
    names, edges = tree["names"], tree["edges"]
    kind = next(node for node, name in names.items() if name == "living kind E11")
    sorts = sorted(child for parent, child in edges if parent == kind)
    classes = [[names[c].split(",")[0] for c in sorted(c for p, c in edges if p == s)] for s in sorts]  # by id
    assert source.hierarchy.names_at_level(0)[0] == "living kind E11"
    assert source.hierarchy.leaf_names[:2] == (classes[0][0], classes[1][0])
    assert target.hierarchy.leaf_names[:2] == (classes[0][1], classes[1][1])
    entity30 = build_dataset(make_cfg("Entity30", root))
    assert entity30.hierarchy.names_at_level(0) == ["living subtree D1", "living subtree D2", "object subtree D1",
                                                    "object subtree D2"]  # D1 at depth 4 despite its shortcut


def test_breeds_random_split_fewshot_and_base_new(breeds_root):
    root, _ = breeds_root
    first = build_dataset(make_cfg("Entity13", root, BREEDS__SPLIT_TYPE="rand"))
    again = build_dataset(make_cfg("Entity13", root, BREEDS__SPLIT_TYPE="rand", BREEDS__SPLIT="target"))
    good = build_dataset(make_cfg("Entity13", root))
    assert first.hierarchy.num_leaves == again.hierarchy.num_leaves == 20
    assert not set(first.hierarchy.leaf_names) & set(again.hierarchy.leaf_names)
    assert first.hierarchy.leaf_names != good.hierarchy.leaf_names
    fewshot = build_dataset(make_cfg("Entity13", root, NUM_SHOTS=1, SUBSAMPLE_CLASSES="base"))
    assert fewshot.hierarchy.leaf_names == good.hierarchy.leaf_names[:10] and len(fewshot.train_x) == 10


def test_breeds_bad_split_type_and_missing_info_files(breeds_root, tmp_path):
    root, _ = breeds_root
    with pytest.raises(ValueError, match="DATASET.BREEDS.SPLIT_TYPE must be one of good, bad, rand"):
        build_dataset(make_cfg("Living17", root, BREEDS__SPLIT_TYPE="worst"))
    with pytest.raises(ValueError, match="DATASET.BREEDS.SPLIT must be one of source, target"):
        build_dataset(make_cfg("Living17", root, BREEDS__SPLIT="both"))
    with pytest.raises(DatasetLayoutError, match=r"breeds/class_hierarchy\.txt not found.*BREEDS-Benchmarks"):
        build_dataset(make_cfg("Living17", tmp_path))
