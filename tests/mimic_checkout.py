"""A CoOp/MaPLe checkout's own datasets, for the plugin route: compact readers that name classes as CoOp's do.

:data:`READERS` is the checkout's ``datasets/coop_readers.py``: one reader per CoOp dataset and ImageNet
variant, registered under the checkout's ``DATASET.NAME``, reading the real layout and naming classes
as CoOp's readers do (the split file's names for the ``split_zhou_*.json`` datasets, Flowers included;
``variants.txt`` as written for FGVC-Aircraft; ``classnames.txt`` for ImageNet and its variants, with
CoOp's label orders). :func:`write_checkout_data` writes every dataset in CoOp's layout with the real
class names (the shipped hierarchy files, ``datasets/class_lists/``) and a few 4x4 images per class.
"""
from __future__ import annotations

import os

from dataset_fixtures import write_coop_split, write_fgvc_aircraft, write_imagenet_family

from hgclip.runtime.dassl_api import DATASET_REGISTRY

READERS = '''
"""The checkout's datasets: CoOp's folders, files and class names, without few-shot or base/new sampling."""
import json
import os
from collections import OrderedDict

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum


def _root(cfg):
    return os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))


class _SplitDataset(DatasetBase):
    """CoOp's OxfordPets.read_split: the split file's [relpath, label, classname] rows, names as written."""

    folder = image_subdir = split_file = ""

    def __init__(self, cfg):
        dataset_dir = os.path.join(_root(cfg), self.folder)
        image_dir = os.path.join(dataset_dir, self.image_subdir)
        with open(os.path.join(dataset_dir, self.split_file)) as handle:
            split = json.load(handle)

        def convert(rows):
            return [Datum(impath=os.path.join(image_dir, path), label=int(label), classname=name)
                    for path, label, name in rows]

        super().__init__(train_x=convert(split["train"]), val=convert(split["val"]), test=convert(split["test"]))


def _split(name, folder, image_subdir, split_file):
    cls = type(name, (_SplitDataset,), {"folder": folder, "image_subdir": image_subdir, "split_file": split_file})
    DATASET_REGISTRY.register(cls)


_split("OxfordPets", "oxford_pets", "images", "split_zhou_OxfordPets.json")
_split("OxfordFlowers", "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json")  # names from cat_to_name.json
_split("DescribableTextures", "dtd", "images", "split_zhou_DescribableTextures.json")
_split("EuroSAT", "eurosat", "2750", "split_zhou_EuroSAT.json")
_split("StanfordCars", "stanford_cars", "", "split_zhou_StanfordCars.json")
_split("Food101", "food-101", "images", "split_zhou_Food101.json")
_split("SUN397", "sun397", "SUN397", "split_zhou_SUN397.json")
_split("Caltech101", "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json")
_split("UCF101", "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json")


@DATASET_REGISTRY.register()
class FGVCAircraft(DatasetBase):
    """CoOp's: classes are the lines of variants.txt as written ("707-320"), nothing replaced."""

    def __init__(self, cfg):
        dataset_dir = os.path.join(_root(cfg), "fgvc_aircraft")
        with open(os.path.join(dataset_dir, "variants.txt")) as handle:
            classnames = [line.strip() for line in handle]
        cname2lab = {name: label for label, name in enumerate(classnames)}

        def read(split):
            items = []
            with open(os.path.join(dataset_dir, f"images_variant_{split}.txt")) as handle:
                for line in handle:
                    words = line.strip().split(" ")
                    name = " ".join(words[1:])
                    items.append(Datum(impath=os.path.join(dataset_dir, "images", words[0] + ".jpg"),
                                       label=cname2lab[name], classname=name))
            return items

        super().__init__(train_x=read("train"), val=read("val"), test=read("test"))


def read_classnames(path):
    """CoOp's ImageNet.read_classnames: wnid -> name, in file order."""
    classnames = OrderedDict()
    with open(path) as handle:
        for line in handle:
            words = line.strip().split(" ")
            classnames[words[0]] = " ".join(words[1:])
    return classnames


def _folders(directory):
    return sorted(name for name in os.listdir(directory) if not name.startswith(".") and name != "README.txt")


def _read_folders(image_dir, folders, classnames, names=None):
    items = []
    for label, folder in enumerate(folders):
        for image in sorted(os.listdir(os.path.join(image_dir, folder))):
            items.append(Datum(impath=os.path.join(image_dir, folder, image), label=label,
                               classname=classnames[(names or folders)[label]]))
    return items


@DATASET_REGISTRY.register()
class ImageNet(DatasetBase):
    """CoOp's: sorted wnid folders of images/train, names from classnames.txt (two classes named "missile")."""

    def __init__(self, cfg):
        dataset_dir = os.path.join(_root(cfg), "imagenet")
        classnames = read_classnames(os.path.join(dataset_dir, "classnames.txt"))
        image_dir = os.path.join(dataset_dir, "images")
        folders = _folders(os.path.join(image_dir, "train"))
        super().__init__(train_x=_read_folders(os.path.join(image_dir, "train"), folders, classnames),
                         test=_read_folders(os.path.join(image_dir, "val"), folders, classnames))


@DATASET_REGISTRY.register()
class ImageNetV2(DatasetBase):
    """CoOp's: folder i is the i-th class of classnames.txt."""

    def __init__(self, cfg):
        dataset_dir = os.path.join(_root(cfg), "imagenetv2")
        classnames = read_classnames(os.path.join(dataset_dir, "classnames.txt"))
        image_dir = os.path.join(dataset_dir, "imagenetv2-matched-frequency-format-val")
        data = _read_folders(image_dir, [str(i) for i in range(len(classnames))], classnames, list(classnames))
        super().__init__(train_x=data, test=data)


class _FolderTestSet(DatasetBase):
    """CoOp's ImageNet-Sketch/-A/-R: the class folders present, sorted; names from classnames.txt."""

    folder = image_subdir = ""

    def __init__(self, cfg):
        dataset_dir = os.path.join(_root(cfg), self.folder)
        classnames = read_classnames(os.path.join(dataset_dir, "classnames.txt"))
        image_dir = os.path.join(dataset_dir, self.image_subdir)
        data = _read_folders(image_dir, _folders(image_dir), classnames)
        super().__init__(train_x=data, test=data)


for _name, _folder, _sub in (("ImageNetSketch", "imagenet-sketch", "images"),
                             ("ImageNetA", "imagenet-adversarial", "imagenet-a"),
                             ("ImageNetR", "imagenet-rendition", "imagenet-r")):
    DATASET_REGISTRY.register(type(_name, (_FolderTestSet,), {"folder": _folder, "image_subdir": _sub}))
'''

#: the checkout's configs/datasets/<file>: DATASET.NAME
CONFIGS = {
    "oxford_pets.yaml": "OxfordPets", "oxford_flowers.yaml": "OxfordFlowers", "fgvc_aircraft.yaml": "FGVCAircraft",
    "dtd.yaml": "DescribableTextures", "eurosat.yaml": "EuroSAT", "stanford_cars.yaml": "StanfordCars",
    "food101.yaml": "Food101", "sun397.yaml": "SUN397", "caltech101.yaml": "Caltech101", "ucf101.yaml": "UCF101",
    "imagenet.yaml": "ImageNet", "imagenetv2.yaml": "ImageNetV2", "imagenet_sketch.yaml": "ImageNetSketch",
    "imagenet_a.yaml": "ImageNetA", "imagenet_r.yaml": "ImageNetR",
}
SPLIT_DATASETS = ("OxfordPets", "OxfordFlowers", "DescribableTextures", "EuroSAT", "StanfordCars", "Food101",
                  "SUN397", "Caltech101", "UCF101")
SHARED_NAME = "missile"  # ImageNet's classnames.txt names two classes so
MISSILE = "n03773504"  # the "missile" of ImageNet-R's 200 classes (the other, n04008634, is in neither list)


def checkout_files() -> dict[str, str]:
    """The checkout's dataset package and dataset configs (relative path -> text)."""
    files = {"datasets/coop_readers.py": READERS}
    files.update({f"configs/datasets/{config}": f'DATASET:\n  NAME: "{name}"\n' for config, name in CONFIGS.items()})
    return files


def write_checkout_data(root) -> dict[str, int]:
    """Every dataset of :data:`CONFIGS` under ``root`` in CoOp's layout; returns the number of classes per DATASET.NAME."""
    from dataset_fixtures import AIRCRAFT_ROWS, raw_leaves

    from hgclip.hierarchy import normalize_classname

    counts: dict[str, int] = {}
    per_split = {"train": 1, "val": 1, "test": 1}
    for name in SPLIT_DATASETS:
        cls = DATASET_REGISTRY.get(f"Hier{name}")
        unused = {normalize_classname(leaf) for leaf in cls.unused_leaves}
        leaves = [leaf for leaf in raw_leaves(cls.hierarchy_file) if normalize_classname(leaf) not in unused]
        if name == "OxfordFlowers":  # class 78 as other copies of cat_to_name.json spell it
            leaves = ["lotus" if leaf == "lotus lotus" else leaf for leaf in leaves]
        write_coop_split(root, cls, per_split=per_split, classnames=leaves)
        counts[name] = len(leaves)
    write_fgvc_aircraft(root, per_split=per_split)
    counts["FGVCAircraft"] = len(AIRCRAFT_ROWS)
    tree = write_imagenet_family(root)
    for folder in ("imagenet", "imagenetv2", "imagenet-sketch", "imagenet-adversarial", "imagenet-rendition"):
        path = os.path.join(str(root), folder, "classnames.txt")
        with open(path) as handle:
            text = handle.read().replace("twin class", SHARED_NAME).replace(f"class {MISSILE}", SHARED_NAME)
        with open(path, "w") as handle:
            handle.write(text)
    counts.update(ImageNet=len(tree["wnids"]), ImageNetV2=len(tree["wnids"]), ImageNetSketch=len(tree["wnids"]),
                  ImageNetA=200, ImageNetR=200)
    return counts
