"""Registered datasets on tiny fake copies of their real on-disk formats, built through the registry."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from PIL import Image

import hgclip.datasets  # noqa: F401  (registers every dataset)
from hgclip.config import extend_cfg
from hgclip.runtime.dassl_api import DATASET_REGISTRY, CfgNode, build_dataset, get_cfg_default


def make_cfg(name: str, root, **dataset_keys):
    cfg = extend_cfg(get_cfg_default())
    if "HIERIMAGEFOLDER" not in cfg.DATASET:  # until config_defaults adds it
        cfg.DATASET.HIERIMAGEFOLDER = CfgNode()
        cfg.DATASET.HIERIMAGEFOLDER.DIR = ""
    cfg.DATASET.NAME = name
    cfg.DATASET.ROOT = str(root)
    cfg.SEED = 1
    for key, value in dataset_keys.items():
        setattr(cfg.DATASET, key, value)
    return cfg


def save_png(path, value: int = 0) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (4, 4), (value % 256, 0, 0)).save(path)


def test_every_dataset_is_registered():
    for name in ("HierShapes", "CIFAR100", "FGVCAircraft", "HierImageFolder", "ETHEC"):
        assert name in DATASET_REGISTRY.registered_names()


# ---------------------------------------------------------------------------------- CIFAR-100
CIFAR_FINE = ["apple", "aquarium_fish", "maple_tree", "oak_tree", "pear"]
CIFAR_COARSE = ["fruit_and_vegetables", "fish", "trees"]
CIFAR_COARSE_OF = [0, 1, 2, 2, 0]


def write_fake_cifar(root, per_class={"train": 5, "test": 2}, coarse_of=CIFAR_COARSE_OF):
    directory = os.path.join(str(root), "cifar-100-python")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "meta"), "wb") as handle:
        pickle.dump(
            {b"fine_label_names": [n.encode() for n in CIFAR_FINE], b"coarse_label_names": [n.encode() for n in CIFAR_COARSE]},
            handle,
        )
    rng = np.random.RandomState(0)
    for split, count in per_class.items():
        fine = [label for _ in range(count) for label in range(len(CIFAR_FINE))]  # interleaved, as in the real files
        batch = {
            b"data": rng.randint(0, 256, size=(len(fine), 3072), dtype=np.uint8),
            b"fine_labels": fine,
            b"coarse_labels": [coarse_of[label] for label in fine],
            b"filenames": [f"img_{i}.png".encode() for i in range(len(fine))],
        }
        with open(os.path.join(directory, split), "wb") as handle:
            pickle.dump(batch, handle)
    return directory


def test_cifar100_from_official_pickles(tmp_path):
    directory = write_fake_cifar(tmp_path)
    dataset = build_dataset(make_cfg("CIFAR100", tmp_path, VAL_FRACTION=0.2))
    hierarchy = dataset.hierarchy
    assert hierarchy.level_names == ("superclass", "class")
    assert hierarchy.leaf_names == ("apple", "aquarium fish", "maple tree", "oak tree", "pear")
    assert hierarchy.level_sizes == (3, 5)
    coarse = [hierarchy.names_at_level(0)[i] for i in hierarchy.ancestors[:, 0].tolist()]
    assert coarse == ["fruit and vegetables", "fish", "trees", "trees", "fruit and vegetables"]
    assert len(dataset.train_x) == 5 * 4 and len(dataset.val) == 5 * 1 and len(dataset.test) == 5 * 2
    for item in dataset.train_x + dataset.val + dataset.test:
        assert hierarchy.leaf_names[item.label] == item.classname
    assert not {d.impath for d in dataset.train_x} & {d.impath for d in dataset.val}
    assert os.path.isfile(os.path.join(directory, "hierarchy.txt"))
    assert os.path.isfile(os.path.join(directory, "split_val0.2.json"))

    # the extracted PNG holds the pixels of the pickle (row-major R, G, B planes)
    with open(os.path.join(directory, "test"), "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    first_test = os.path.join(directory, "images", "test", "apple", "00000.png")
    expected = batch[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(np.asarray(Image.open(first_test)), expected)


def test_cifar100_redoes_an_interrupted_extraction(tmp_path):
    directory = write_fake_cifar(tmp_path)
    build_dataset(make_cfg("CIFAR100", tmp_path))
    image = os.path.join(directory, "images", "train", "pear", "00004.png")
    os.remove(image)
    os.remove(os.path.join(directory, "images", ".complete"))  # as if the extraction had stopped midway
    dataset = build_dataset(make_cfg("CIFAR100", tmp_path, NUM_SHOTS=2, SUBSAMPLE_CLASSES="base"))
    assert os.path.isfile(image)
    assert dataset.hierarchy.leaf_names == ("apple", "aquarium fish", "maple tree")
    assert len(dataset.train_x) == 3 * 2


def test_cifar100_class_under_two_superclasses_is_an_error(tmp_path):
    directory = write_fake_cifar(tmp_path)
    with open(os.path.join(directory, "test"), "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    batch[b"coarse_labels"][3] = 0  # oak_tree under fruit_and_vegetables
    with open(os.path.join(directory, "test"), "wb") as handle:
        pickle.dump(batch, handle)
    with pytest.raises(ValueError, match=r"cifar-100-python/test: image 3 puts class 'oak_tree' under superclass"):
        build_dataset(make_cfg("CIFAR100", tmp_path))


# ---------------------------------------------------------------------------------- FGVC-Aircraft
AIRCRAFT = [  # variant, family, manufacturer (real names, incl. spaces and '-')
    ("707-320", "Boeing 707", "Boeing"),
    ("737-200", "Boeing 737", "Boeing"),
    ("737-300", "Boeing 737", "Boeing"),
    ("A300B4", "A300", "Airbus"),
    ("Falcon 2000", "Falcon 2000", "Dassault Aviation"),
]
AIRCRAFT_PER_SPLIT = {"train": 3, "val": 2, "test": 2}


def write_fake_aircraft(root, data_dir=os.path.join("fgvc-aircraft-2013b", "data")):
    directory = os.path.join(str(root), data_dir)
    os.makedirs(os.path.join(directory, "images"))
    for filename, column in (("variants.txt", 0), ("families.txt", 1), ("manufacturers.txt", 2)):
        names = list(dict.fromkeys(row[column] for row in AIRCRAFT))
        with open(os.path.join(directory, filename), "w") as handle:
            handle.write("\n".join(names) + "\n")
    image_id = 1000000
    for split, count in AIRCRAFT_PER_SPLIT.items():
        lines = {"variant": [], "family": [], "manufacturer": []}
        for row in AIRCRAFT:
            for _ in range(count):
                image_id += 1
                save_png(os.path.join(directory, "images", f"{image_id}.jpg"), image_id)
                for level, name in zip(("variant", "family", "manufacturer"), row):
                    lines[level].append(f"{image_id} {name}")
        for level, content in lines.items():
            with open(os.path.join(directory, f"images_{level}_{split}.txt"), "w") as handle:
                handle.write("\n".join(content) + "\n")
    return directory


def test_fgvc_aircraft_from_official_annotations(tmp_path):
    directory = write_fake_aircraft(tmp_path)
    dataset = build_dataset(make_cfg("FGVCAircraft", tmp_path))
    hierarchy = dataset.hierarchy
    assert hierarchy.level_names == ("manufacturer", "family", "variant")
    assert hierarchy.level_sizes == (3, 4, 5)
    assert hierarchy.leaf_names == ("707 320", "737 200", "737 300", "A300B4", "Falcon 2000")
    assert hierarchy.paths[2] == ("Boeing", "Boeing 737", "737 300")
    assert (len(dataset.train_x), len(dataset.val), len(dataset.test)) == (15, 10, 10)
    for item in dataset.train_x + dataset.val + dataset.test:
        assert hierarchy.leaf_names[item.label] == item.classname
    assert dataset.dataset_dir == directory
    assert os.path.isfile(os.path.join(directory, "hierarchy.txt"))


def test_fgvc_aircraft_prompts_with_the_official_rule(tmp_path):
    """CoOp's reader takes variants.txt as written and prompts ``name.replace("_", " ")``: "707-320" keeps its '-'."""
    write_fake_aircraft(tmp_path)
    hierarchy = build_dataset(make_cfg("FGVCAircraft", tmp_path)).hierarchy
    official = hierarchy.prompt_names("official")
    variants = list(dict.fromkeys(row[0] for row in AIRCRAFT))
    assert official[hierarchy.level_offsets[-1]:] == [name.replace("_", " ") for name in variants]
    assert hierarchy.leaf_names[0] == "707 320"  # the node is still identified by the normalised name


def test_fgvc_aircraft_coop_layout_and_new_classes(tmp_path):
    write_fake_aircraft(tmp_path, data_dir="fgvc_aircraft")
    dataset = build_dataset(make_cfg("FGVCAircraft", tmp_path, NUM_SHOTS=1, SUBSAMPLE_CLASSES="new"))
    assert dataset.hierarchy.leaf_names == ("A300B4", "Falcon 2000")
    assert dataset.hierarchy.names_at_level(0) == ["Airbus", "Dassault Aviation"]
    assert len(dataset.train_x) == 2 and len(dataset.val) == 2
    assert os.path.isfile(os.path.join(str(tmp_path), "fgvc_aircraft", "split_fewshot", "hgclip_shot_1-seed_1.json"))


def test_fgvc_aircraft_conflicting_family_names_the_line(tmp_path):
    directory = write_fake_aircraft(tmp_path)
    path = os.path.join(directory, "images_family_val.txt")
    lines = open(path).read().splitlines()
    image_id = lines[0].split(" ")[0]  # a 707-320 image
    lines[0] = f"{image_id} Boeing 737"
    open(path, "w").write("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"images_family_val\.txt:1: variant '707-320' has family 'Boeing 737', "
                                         r"but .*images_family_train\.txt:1 gives 'Boeing 707'"):
        build_dataset(make_cfg("FGVCAircraft", tmp_path))


def test_fgvc_aircraft_missing_data_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="variants.txt"):
        build_dataset(make_cfg("FGVCAircraft", tmp_path))


# ---------------------------------------------------------------------------------- HierImageFolder
FOLDER_HIERARCHY = "levels: kind > animal\nbird > blue_jay\nbird > robin\nmammal > red-fox\n"


def write_fake_folder(root, with_val: bool):
    directory = os.path.join(str(root), "mine")
    os.makedirs(directory)
    with open(os.path.join(directory, "hierarchy.txt"), "w") as handle:
        handle.write(FOLDER_HIERARCHY)
    splits = {"train": 5, "test": 2, **({"val": 1} if with_val else {})}
    for split, count in splits.items():
        for folder in ("blue_jay", "robin", "red fox"):  # spelled differently from the hierarchy on purpose
            for index in range(count):
                save_png(os.path.join(directory, "images", split, folder, f"{index}.png"), index)
    return directory


@pytest.mark.parametrize("with_val", [True, False])
def test_hier_image_folder(tmp_path, with_val):
    write_fake_folder(tmp_path, with_val)
    cfg = make_cfg("HierImageFolder", tmp_path, VAL_FRACTION=0.2)
    cfg.DATASET.HIERIMAGEFOLDER.DIR = "mine"
    dataset = build_dataset(cfg)
    assert dataset.hierarchy.leaf_names == ("blue jay", "robin", "red fox")
    assert dataset.hierarchy.names_at_level(0) == ["bird", "mammal"]
    assert len(dataset.val) == 3 and len(dataset.train_x) == (15 if with_val else 12) and len(dataset.test) == 6
    for item in dataset.train_x + dataset.val + dataset.test:
        assert dataset.hierarchy.leaf_names[item.label] == item.classname


def test_hier_image_folder_subclass_template_and_unknown_folder(tmp_path):
    from hgclip.datasets.image_folder import HierImageFolder

    class MyAnimals(HierImageFolder):  # not registered, to keep the global registry clean
        folder = "mine"

    directory = write_fake_folder(tmp_path, with_val=False)
    cfg = make_cfg("MyAnimals", tmp_path, SUBSAMPLE_CLASSES="base")
    assert MyAnimals(cfg).hierarchy.leaf_names == ("blue jay", "robin")

    save_png(os.path.join(directory, "images", "train", "wolf", "0.png"))
    with pytest.raises(ValueError, match=r"folder 'wolf' is not a leaf of .*mine/hierarchy\.txt"):
        MyAnimals(cfg)


# ---------------------------------------------------------------------------------- ETHEC
ETHEC_ROWS = [  # family, subfamily, genus, epithet -- 'glacialis' occurs in two genera, as in the real data
    ("Papilionidae", "Parnassiinae", "Parnassius", "glacialis"),
    ("Pieridae", "Coliadinae", "Colias", "glacialis"),
    ("Pieridae", "Coliadinae", "Colias", "hyale"),
    ("Lycaenidae", "Theclinae", "Satyrium", "w-album"),
]


def write_fake_ethec(root):
    directory = os.path.join(str(root), "ETHEC_dataset")
    counter = 0
    for split, count in {"train": 3, "val": 1, "test": 1}.items():
        entries = {}
        for family, subfamily, genus, epithet in ETHEC_ROWS:
            for _ in range(count):
                counter += 1
                name = f"ETHZ_ENT01_2017_03_{counter:02d}_0001.JPG"
                save_png(os.path.join(directory, "IMAGO_build_test_resized", f"folder_{counter % 3}R", name), counter)
                entries[f"token{counter}"] = {
                    "token": f"token{counter}", "image_name": name, "image_path": f"ETHEC/{name}",
                    "family": family, "subfamily": subfamily, "genus": genus, "specific_epithet": epithet,
                }
        os.makedirs(os.path.join(directory, "splits"), exist_ok=True)
        with open(os.path.join(directory, "splits", f"{split}.json"), "w") as handle:
            json.dump(entries, handle)
    return directory


def test_ethec_keys_species_by_binomial(tmp_path):
    write_fake_ethec(tmp_path)
    dataset = build_dataset(make_cfg("ETHEC", tmp_path))
    hierarchy = dataset.hierarchy
    assert hierarchy.level_names == ("family", "subfamily", "genus", "species")
    assert hierarchy.num_leaves == 4  # the shared epithet does not merge two species
    assert set(hierarchy.leaf_names) == {"Parnassius glacialis", "Colias glacialis", "Colias hyale", "Satyrium w album"}
    assert (len(dataset.train_x), len(dataset.val), len(dataset.test)) == (12, 4, 4)
    for item in dataset.train_x + dataset.val + dataset.test:
        assert hierarchy.leaf_names[item.label] == item.classname


# ---------------------------------------------------------------------------------- HierShapes
def test_hiershapes_through_the_registry(tmp_path, monkeypatch):
    import hgclip.embedded.hiershapes as hiershapes

    monkeypatch.setattr(hiershapes, "SPLIT_SIZES", {"train": 3, "val": 2, "test": 2})
    dataset = build_dataset(make_cfg("HierShapes", tmp_path, NUM_SHOTS=2, SUBSAMPLE_CLASSES="base"))
    half = dataset.full_hierarchy.num_leaves // 2
    assert dataset.hierarchy.num_leaves == half and dataset.num_classes == half
    assert dataset.hierarchy.level_names == ("family", "shape", "object")
    assert dataset.kept_leaves == list(range(half))
    assert len(dataset.train_x) == len(dataset.val) == len(dataset.test) == 2 * half
    for item in dataset.train_x + dataset.val + dataset.test:
        assert dataset.hierarchy.leaf_names[item.label] == item.classname
    assert dataset.dataset_dir == os.path.join(str(tmp_path), "hiershapes")
    assert os.path.isfile(os.path.join(dataset.dataset_dir, "split_fewshot", "hgclip_shot_2-seed_1.json"))


def test_hiershapes_with_a_shipped_hierarchy_file(tmp_path, monkeypatch):
    import hgclip.embedded.hiershapes as hiershapes

    monkeypatch.setattr(hiershapes, "SPLIT_SIZES", {"train": 2, "val": 1, "test": 1})
    plain = build_dataset(make_cfg("HierShapes", tmp_path, SUBSAMPLE_CLASSES="new"))
    by_colour = build_dataset(
        make_cfg("HierShapes", tmp_path, SUBSAMPLE_CLASSES="new", HIERARCHY_FILE="hiershapes_by_colour.txt")
    )
    assert by_colour.hierarchy.level_names == ("colour", "object")
    assert by_colour.hierarchy.leaf_names == plain.hierarchy.leaf_names
    assert [(d.impath, d.label) for d in by_colour.train_x] == [(d.impath, d.label) for d in plain.train_x]
    for leaf, colour in zip(by_colour.hierarchy.leaf_names, by_colour.hierarchy.ancestors[:, 0].tolist()):
        assert leaf.startswith(by_colour.hierarchy.names_at_level(0)[colour] + " ")
