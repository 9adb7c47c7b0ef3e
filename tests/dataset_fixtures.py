"""Fixture trees in the real on-disk formats of the benchmark datasets, written into a test's tmp_path.

Each builder writes the real file and folder names (CoOp's ``split_zhou_*.json`` with its
``[relpath, label, classname]`` rows and the dataset's own path scheme, ImageNet's ``classnames.txt``,
``wordnet.is_a.txt`` and ``words.txt``, the BREEDS info files, Kaggle's Fruits-360 folders) with a few
tiny images per class. Every image is the same 4x4 PNG written as bytes, so thousands cost little.
"""
from __future__ import annotations

import io
import json
import os
from typing import Callable, Optional, Sequence

from PIL import Image

import hgclip.datasets  # noqa: F401  (registers every dataset)
from hgclip.config import extend_cfg
from hgclip.datasets.base import HIERARCHIES_DIR
from hgclip.runtime.dassl_api import get_cfg_default

PER_SPLIT = {"train": 2, "val": 1, "test": 1}

_PNG: Optional[bytes] = None


def png_bytes() -> bytes:
    global _PNG
    if _PNG is None:
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4), (120, 30, 200)).save(buffer, format="PNG")
        _PNG = buffer.getvalue()
    return _PNG


def put_image(path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(png_bytes())
    return path


def make_cfg(name: str, root, **keys):
    """A project config for ``DATASET.NAME name``; ``keys`` are DATASET keys, ``"A__B"`` for ``DATASET.A.B``."""
    cfg = extend_cfg(get_cfg_default())
    cfg.DATASET.NAME = name
    cfg.DATASET.ROOT = str(root)
    cfg.SEED = 1
    for key, value in keys.items():
        node = cfg.DATASET
        *parents, leaf = key.split("__")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return cfg


def raw_leaves(hierarchy_file: str) -> list[str]:
    """The leaf names of a shipped hierarchy file as written there (CoOp's spelling), in line order."""
    leaves = []
    with open(os.path.join(HIERARCHIES_DIR, hierarchy_file), encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    for line in lines[1:]:
        leaves.append(line.split(">")[-1].strip())
    return leaves


# ---------------------------------------------------------------------------------- CoOp split datasets
def _folder(name: str) -> str:
    return name.replace(" ", "_").replace("/", "_")


EUROSAT_FOLDERS = {
    "Annual Crop Land": "AnnualCrop", "Forest": "Forest", "Herbaceous Vegetation Land": "HerbaceousVegetation",
    "Highway or Road": "Highway", "Industrial Buildings": "Industrial", "Pasture Land": "Pasture",
    "Permanent Crop Land": "PermanentCrop", "Residential Buildings": "Residential", "River": "River",
    "Sea or Lake": "SeaLake",
}


def _sun_path(classname: str) -> str:
    """CoOp's SUN397 name back to its ClassName.txt folder: "outdoor apartment_building" -> a/apartment_building/outdoor."""
    parts = classname.split(" ")[::-1]
    return "/".join([parts[0][0]] + parts)


#: How each dataset names its image files (relative to its image folder), as in the real data and
#: CoOp's split files; ``i`` counts images over the whole dataset.
CALTECH_FOLDERS = {'airplane': 'airplanes', 'face': 'Faces', 'leopard': 'Leopards', 'motorbike': 'Motorbikes'}
RELPATH: dict[str, Callable[[str, str, int], str]] = {
    "OxfordPets": lambda c, s, i: f"{_folder(c)}_{i}.jpg",  # images/american_bulldog_100.jpg
    "StanfordCars": lambda c, s, i: f"cars_{'test' if s == 'test' else 'train'}/{i:05d}.jpg",
    "Caltech101": lambda c, s, i: f"{CALTECH_FOLDERS.get(c, c)}/image_{i:04d}.jpg",
    "Food101": lambda c, s, i: f"{c}/{1000000 + i}.jpg",
    "DescribableTextures": lambda c, s, i: f"{c}/{c}_{i:04d}.jpg",
    "EuroSAT": lambda c, s, i: f"{EUROSAT_FOLDERS[c]}/{EUROSAT_FOLDERS[c]}_{i}.jpg",
    "SUN397": lambda c, s, i: f"{_sun_path(c)}/sun_{i:08d}.jpg",  # a/apartment_building/outdoor/...
    "OxfordFlowers": lambda c, s, i: f"image_{i:05d}.jpg",
    "UCF101": lambda c, s, i: f"{c}/v_{c.replace('_', '')}_g{i % 25 + 1:02d}_c{i:04d}.jpg",
}


def write_coop_split(
    root,
    dataset: type,
    per_split: dict = PER_SPLIT,
    labels: Optional[Sequence[int]] = None,
    classnames: Optional[Sequence[str]] = None,
) -> str:
    """A CoOp-layout copy of ``dataset`` (a CoOpSplitDataset class): its image folder with a few images
    per class and its ``split_zhou_*.json``. Returns the dataset folder.

    Args:
        labels: CoOp label of each class (default: the hierarchy file's line order).
        classnames: the split's class names (default: the hierarchy file's leaves minus the unused ones).
    """
    from hgclip.hierarchy import normalize_classname

    unused = {normalize_classname(name) for name in dataset.unused_leaves}
    names = list(classnames) if classnames is not None else [
        name for name in raw_leaves(dataset.hierarchy_file) if normalize_classname(name) not in unused
    ]
    labels = list(labels) if labels is not None else list(range(len(names)))
    dataset_dir = os.path.join(str(root), dataset.folder)
    image_dir = os.path.join(dataset_dir, dataset.image_subdir) if dataset.image_subdir else dataset_dir
    rows = {split: [] for split in per_split}
    counter = 0
    for label, name in zip(labels, names):
        for split, count in per_split.items():
            for _ in range(count):
                counter += 1
                relpath = RELPATH[dataset.__name__](name, split, counter)
                put_image(os.path.join(image_dir, relpath))
                rows[split].append([relpath, label, name])
    with open(os.path.join(dataset_dir, dataset.split_file), "w", encoding="utf-8") as handle:
        json.dump(rows, handle)
    return dataset_dir


# ---------------------------------------------------------------------------------- ImageNet family
def imagenet_classes() -> list[str]:
    """The fixture's ImageNet classes: the union of the ImageNet-A and -R lists (as in HGCLIP's
    ImageNet-314) plus six more, so that both 200-class subsets are present."""
    from hgclip.datasets.imagenet import read_wnid_list

    union = set(read_wnid_list("imagenet_a_wnids.txt")) | set(read_wnid_list("imagenet_r_wnids.txt"))
    return sorted(union | {f"n0000{i:04d}" for i in range(1, 7)})


def write_wordnet(directory: str, wnids: Sequence[str]) -> dict:
    """``wordnet.is_a.txt`` and ``words.txt`` over ``wnids``: class i's parent is ``p<i % 7>``,
    parents sit under two grandparents, both under ``entity``. Two quirks of the real files:
    the first class has a second, later-listed parent (the first listed must win), and parents
    p5 and p6 share their first synonym "crane" (they must not merge). Returns the tree."""
    os.makedirs(directory, exist_ok=True)
    parent_of = {wnid: f"n9000000{index % 7}" for index, wnid in enumerate(wnids)}
    grand_of = {f"n9000000{k}": ("n91000000" if k < 4 else "n91000001") for k in range(7)}
    lines = [f"n92000000 {g}" for g in sorted(set(grand_of.values()))]
    lines += [f"{g} {p}" for p, g in grand_of.items()]
    lines += [f"{parent_of[w]} {w}" for w in wnids]
    lines.append(f"n90000003 {wnids[0]}")  # a second parent, listed after the first
    with open(os.path.join(directory, "wordnet.is_a.txt"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    words = {"n92000000": "entity", "n91000000": "animal, animate being", "n91000001": "artifact, artefact"}
    words.update({f"n9000000{k}": f"group{k}, collection {k}" for k in range(5)})
    words.update({"n90000005": "crane", "n90000006": "crane, lifting device"})
    words.update({wnid: f"synset {wnid}" for wnid in wnids})
    with open(os.path.join(directory, "words.txt"), "w") as handle:
        handle.write("".join(f"{wnid}\t{text}\n" for wnid, text in words.items()))
    return {"parent": parent_of, "grandparent": grand_of, "words": words}


def write_classnames(directory: str, wnids: Sequence[str]) -> None:
    """CoOp's ``classnames.txt``; the 2nd and 3rd classes share a name, as "missile" does in the real one."""
    os.makedirs(directory, exist_ok=True)
    names = [f"class {wnid}" for wnid in wnids]
    names[1] = names[2] = "twin class"
    with open(os.path.join(directory, "classnames.txt"), "w") as handle:
        handle.write("".join(f"{wnid} {name}\n" for wnid, name in zip(wnids, names)))


def write_imagenet_family(root, per_class: int = 1) -> dict:
    """ImageNet, ImageNetV2, ImageNet-Sketch, -A and -R in CoOp's layout, plus the WordNet files."""
    from hgclip.datasets.imagenet import read_wnid_list

    root = str(root)
    wnids = imagenet_classes()
    tree = write_wordnet(os.path.join(root, "imagenet"), wnids)
    for folder in ("imagenet", "imagenetv2", "imagenet-sketch", "imagenet-adversarial", "imagenet-rendition"):
        write_classnames(os.path.join(root, folder), wnids)
    for index, wnid in enumerate(wnids):
        for i in range(per_class):
            put_image(os.path.join(root, "imagenet", "images", "train", wnid, f"{wnid}_{i}.JPEG"))
            put_image(os.path.join(root, "imagenet", "images", "val", wnid, f"ILSVRC2012_val_{index:05d}{i}.JPEG"))
            put_image(os.path.join(root, "imagenetv2", "imagenetv2-matched-frequency-format-val", str(index), f"{i}.jpeg"))
            put_image(os.path.join(root, "imagenet-sketch", "images", wnid, f"sketch_{i}.JPEG"))
    for folder, sub, listed in (("imagenet-adversarial", "imagenet-a", "imagenet_a_wnids.txt"),
                                ("imagenet-rendition", "imagenet-r", "imagenet_r_wnids.txt")):
        for wnid in read_wnid_list(listed):
            put_image(os.path.join(root, folder, sub, wnid, f"{sub}_{wnid}.jpg"))
        with open(os.path.join(root, folder, sub, "README.txt"), "w") as handle:
            handle.write("the dataset's own readme\n")
    return dict(tree, wnids=wnids)


# ---------------------------------------------------------------------------------- BREEDS
def write_breeds(root, per_class: dict = {"train": 2, "val": 1}) -> dict:
    """BREEDS info files over a small WordNet-like tree, and the ImageNet images of its classes.

    entity -> living thing (n00004258) / non-living thing (n00021939) -> A -> C (depth 3) ->
    D1, D2 (8 classes each) and D3 (4) -> E (depth 5, 4 classes) -> F (2 classes) -> classes.
    An extra edge "living thing -> D1" gives D1 a shorter path; BREEDS uses the longest (depth 4).
    D3 is a "dummy" node, as BREEDS' modified hierarchy has. Each side yields 1 Entity13
    superclass (C, 20 classes), 2 Entity30 ones (D1, D2), and 4 Living17 / Nonliving26 ones (E).
    """
    root = str(root)
    edges, names, leaves = [], {"n00001740": "entity", "n00004258": "living thing, animate thing",
                                "n00021939": "non-living thing, nonliving thing"}, []
    counter = [0]

    def node(prefix: str, label: str) -> str:
        counter[0] += 1
        wnid = f"{prefix}{counter[0]:06d}"
        names[wnid] = label
        return wnid

    def add_leaves(parent: str, count: int, tag: str) -> None:
        for _ in range(count):
            wnid = node("n05", f"{tag} class {counter[0] + 1}, synonym")
            edges.append((parent, wnid))
            leaves.append(wnid)

    edges.append(("n00001740", "n00004258"))
    edges.append(("n00001740", "n00021939"))
    for side, top in (("living", "n00004258"), ("object", "n00021939")):
        a = node("n01", f"{side} group A")
        edges.append((top, a))
        c = node("n02", f"{side} superclass C")
        edges.append((a, c))
        for d_index in range(2):
            d = node("n03", f"{side} subtree D{d_index + 1}")
            edges.append((c, d))
            if d_index == 0:
                edges.append((top, d))  # shortcut: depth 2 by this path, 4 by the longest
            for e_index in range(2):
                e = node("n04", f"{side} kind E{d_index + 1}{e_index + 1}")
                edges.append((d, e))
                for f_index in range(2):
                    f = node("n04", f"{side} sort F{d_index + 1}{e_index + 1}{f_index + 1}")
                    edges.append((e, f))
                    add_leaves(f, 2, f"{side} {d_index}{e_index}{f_index}")
        dummy = f"dummy{counter[0]}"
        names[dummy] = f"{side} odd subtree"
        edges.append((c, dummy))
        add_leaves(dummy, 4, f"{side} odd")
    info_dir = os.path.join(root, "breeds")
    os.makedirs(info_dir, exist_ok=True)
    with open(os.path.join(info_dir, "class_hierarchy.txt"), "w") as handle:
        handle.write("".join(f"{p} {c}\n" for p, c in edges))
    with open(os.path.join(info_dir, "node_names.txt"), "w") as handle:
        handle.write("".join(f"{w}\t{n}\n" for w, n in names.items()))
    class_info = [[index, wnid, names[wnid]] for index, wnid in enumerate(sorted(leaves))]
    with open(os.path.join(info_dir, "dataset_class_info.json"), "w") as handle:
        json.dump(class_info, handle)
    for wnid in leaves:
        for split, count in per_class.items():
            for i in range(count):
                put_image(os.path.join(root, "imagenet", "images", split, wnid, f"{wnid}_{i}.JPEG"))
    return {"leaves": leaves, "names": names, "edges": edges}


# ---------------------------------------------------------------------------------- Fruits-360
#: Real folder names of the 131-class release where they differ from the class name title-cased.
FRUIT_FOLDERS = {
    "apple golden": ["Apple Golden 1", "Apple Golden 2", "Apple Golden 3"],
    "apple red": ["Apple Red 1", "Apple Red 2", "Apple Red 3"],
    "apple red yellow": ["Apple Red Yellow 1", "Apple Red Yellow 2"],
    "avocado ripe": ["Avocado ripe"],
    "cactus fruit": ["Cactus fruit"],
    "cantaloupe": ["Cantaloupe 1", "Cantaloupe 2"],
    "cherry": ["Cherry 1", "Cherry 2"],
    "cucumber ripe": ["Cucumber Ripe", "Cucumber Ripe 2"],
    "grape white": ["Grape White", "Grape White 2", "Grape White 3", "Grape White 4"],
    "melon piel de sapo": ["Melon Piel de Sapo"],
    "peach": ["Peach", "Peach 2"],
    "pear": ["Pear", "Pear 2"],
    "physalis with husk": ["Physalis with Husk"],
    "plum": ["Plum", "Plum 2", "Plum 3"],
    "tomato": ["Tomato 1", "Tomato 2", "Tomato 3", "Tomato 4"],
    "tomato not ripened": ["Tomato not Ripened"],
}


def fruit_folders(leaf: str) -> list[str]:
    return FRUIT_FOLDERS.get(leaf, [leaf.title()])


def write_fruits360(root, per_folder: dict = {"Training": 2, "Test": 1}) -> str:
    """Kaggle's Fruits-360 under HGCLIP's path: ``fruits-360/fruits-360_dataset/fruits-360/{Training,Test}``."""
    data_dir = os.path.join(str(root), "fruits-360", "fruits-360_dataset", "fruits-360")
    for leaf in raw_leaves("fruits360.txt"):
        for folder in fruit_folders(leaf):
            for split, count in per_folder.items():
                for i in range(count):
                    put_image(os.path.join(data_dir, split, folder, f"{i}_100.jpg"))
    return data_dir


# ---------------------------------------------------------------------------------- FGVC-Aircraft
#: (variant, family, manufacturer): real FGVC-Aircraft names, with their '-', '/' and spaces
AIRCRAFT_ROWS = (
    ("707-320", "Boeing 707", "Boeing"),
    ("737-200", "Boeing 737", "Boeing"),
    ("737-300", "Boeing 737", "Boeing"),
    ("A300B4", "A300", "Airbus"),
    ("DC-10", "DC-10", "McDonnell Douglas"),
    ("F-16A/B", "F-16", "General Dynamics"),
    ("Falcon 2000", "Falcon 2000", "Dassault Aviation"),
)


def write_fgvc_aircraft(root, per_split: dict = PER_SPLIT, rows: Sequence[tuple] = AIRCRAFT_ROWS,
                        data_dir: str = "fgvc_aircraft") -> str:
    """FGVC-Aircraft's ``data/`` folder (CoOp's layout by default: ``<root>/fgvc_aircraft``): variants.txt,
    families.txt, manufacturers.txt, ``images_<level>_<split>.txt`` and ``images/<id>.jpg``."""
    directory = os.path.join(str(root), data_dir)
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    for filename, column in (("variants.txt", 0), ("families.txt", 1), ("manufacturers.txt", 2)):
        with open(os.path.join(directory, filename), "w") as handle:
            handle.write("".join(f"{name}\n" for name in dict.fromkeys(row[column] for row in rows)))
    image_id = 1000000
    for split, count in per_split.items():
        lines: dict[str, list[str]] = {"variant": [], "family": [], "manufacturer": []}
        for row in rows:
            for _ in range(count):
                image_id += 1
                put_image(os.path.join(directory, "images", f"{image_id}.jpg"))
                for level, name in zip(("variant", "family", "manufacturer"), row):
                    lines[level].append(f"{image_id} {name}\n")
        for level, content in lines.items():
            with open(os.path.join(directory, f"images_{level}_{split}.txt"), "w") as handle:
                handle.write("".join(content))
    return directory
