"""CoOp's benchmarks that come with a ``split_zhou_*.json``, each with its shipped hierarchy.

Names, folders and split files are CoOp's (``DATASET.NAME`` selects the same dataset as in a
CoOp/MaPLe checkout); the layouts are those of CoOp's DATASETS.md. How each class name of CoOp's
split maps to the hierarchy, and where each level comes from, is in the header of the hierarchy
file named by ``hierarchy_file`` (``datasets/hierarchies/``).
"""
from __future__ import annotations

from ..registry import register_dataset
from .coop_split import COOP_DATASETS_MD, CoOpSplitDataset


def _coop_split(section: str) -> str:
    return f"the split JSON from CoOp's DATASETS.md ({COOP_DATASETS_MD}#{section})"


@register_dataset
class OxfordPets(CoOpSplitDataset):
    """Oxford-IIIT Pets: species > breed (2 / 37), HGCLIP's tree."""

    folder = "oxford_pets"
    image_subdir = "images"
    split_file = "split_zhou_OxfordPets.json"
    hierarchy_file = "oxford_pets.txt"
    download = ("images.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz; "
                + _coop_split("oxfordpets"))


@register_dataset
class StanfordCars(CoOpSplitDataset):
    """Stanford Cars: 9 body types (Chang et al. 2021) > 196 models."""

    folder = "stanford_cars"
    image_subdir = ""  # CoOp's split paths start with cars_train/ or cars_test/
    split_file = "split_zhou_StanfordCars.json"
    hierarchy_file = "stanford_cars.txt"
    download = ("cars_train.tgz and cars_test.tgz (http://ai.stanford.edu/~jkrause/car196/, mirrored by torchvision "
                "and Kaggle) unpacked into cars_train/ and cars_test/; " + _coop_split("stanfordcars"))

    def layout(self) -> str:
        return f"<DATASET.ROOT>/{self.folder}/{{cars_train/, cars_test/, {self.split_file}}}"


@register_dataset
class Caltech101(CoOpSplitDataset):
    """Caltech-101: HGCLIP's 11 / 51 / 101 tree on CoOp's 100 classes (faces_easy unused)."""

    folder = "caltech-101"
    image_subdir = "101_ObjectCategories"
    split_file = "split_zhou_Caltech101.json"
    hierarchy_file = "caltech101.txt"
    unused_leaves = ("faces_easy",)  # CoOp drops the Faces_easy (and BACKGROUND_Google) folder
    download = ("101_ObjectCategories.tar.gz (Caltech 101, https://data.caltech.edu) unpacked into caltech-101/; "
                + _coop_split("caltech101"))


@register_dataset
class Food101(CoOpSplitDataset):
    """Food-101: dish type > dish (18 / 101), HGCLIP's tree."""

    folder = "food-101"
    image_subdir = "images"
    split_file = "split_zhou_Food101.json"
    hierarchy_file = "food101.txt"
    download = ("food-101.tar.gz from https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ unpacked into "
                "DATASET.ROOT; " + _coop_split("food101"))


@register_dataset
class DescribableTextures(CoOpSplitDataset):
    """DTD: pattern group > texture (6 / 47), authored here."""

    folder = "dtd"
    image_subdir = "images"
    split_file = "split_zhou_DescribableTextures.json"
    hierarchy_file = "dtd.txt"
    download = ("dtd-r1.0.1.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/dtd/ unpacked into DATASET.ROOT; "
                + _coop_split("dtd"))


@register_dataset
class EuroSAT(CoOpSplitDataset):
    """EuroSAT: CORINE land-cover level 1 > class (4 / 10)."""

    folder = "eurosat"
    image_subdir = "2750"
    split_file = "split_zhou_EuroSAT.json"
    hierarchy_file = "eurosat.txt"
    download = ("EuroSAT.zip (RGB; http://madm.dfki.de/files/sentinel/EuroSAT.zip, see https://github.com/phelber/EuroSAT) "
                "unpacked into eurosat/; " + _coop_split("eurosat"))


@register_dataset
class SUN397(CoOpSplitDataset):
    """SUN397: the SUN 3-level scene hierarchy (3 / 16 / 397)."""

    folder = "sun397"
    image_subdir = "SUN397"
    split_file = "split_zhou_SUN397.json"
    hierarchy_file = "sun397.txt"
    download = ("SUN397.tar.gz from https://vision.princeton.edu/projects/2010/SUN/ unpacked into sun397/; "
                + _coop_split("sun397"))


@register_dataset
class OxfordFlowers(CoOpSplitDataset):
    """Oxford Flowers-102: botanical family > flower (46 / 102), authored here."""

    folder = "oxford_flowers"
    image_subdir = "jpg"
    split_file = "split_zhou_OxfordFlowers.json"
    hierarchy_file = "oxford_flowers.txt"
    # class 78: cat_to_name.json says "lotus lotus" in CoOp's copy and "lotus" in others
    leaf_aliases = {"lotus lotus": ("lotus",)}
    download = ("102flowers.tgz from https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ unpacked into "
                "oxford_flowers/ (giving jpg/); " + _coop_split("flowers102"))


@register_dataset
class UCF101(CoOpSplitDataset):
    """UCF101 (middle frames): the five official action types > action (5 / 101)."""

    folder = "ucf101"
    image_subdir = "UCF-101-midframes"
    split_file = "split_zhou_UCF101.json"
    hierarchy_file = "ucf101.txt"
    download = ("UCF-101-midframes.zip (the middle frame of each video) and the split JSON, both linked from "
                f"CoOp's DATASETS.md ({COOP_DATASETS_MD}#ucf101)")
