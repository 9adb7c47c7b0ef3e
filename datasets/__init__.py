"""Datasets of this project; importing the package registers every one in DATASET_REGISTRY.

``hgclip.datasets.base.HierarchicalDataset`` applies the protocol (few-shot sampling,
base/new split, hierarchy override, relabelling); each module below only reads
one on-disk format. A new dataset needs no code (``HierConfigDataset``, see
``datasets/config_dataset.py``); ``datasets/image_folder.py`` explains the code route.
"""
from .base import DatasetSource, HierarchicalDataset, subsample_leaves
from .breeds import Entity13, Entity30, Living17, Nonliving26
from .cifar100 import CIFAR100
from .config_dataset import HierConfigDataset
from .coop_datasets import (
    SUN397,
    UCF101,
    Caltech101,
    DescribableTextures,
    EuroSAT,
    Food101,
    OxfordFlowers,
    OxfordPets,
    StanfordCars,
)
from .ethec import ETHEC
from .fgvc_aircraft import FGVCAircraft
from .fruits360 import Fruits360
from .hiershapes import HierShapes
from .image_folder import HierImageFolder
from .imagenet import ImageNet, ImageNetA, ImageNetR, ImageNetSketch, ImageNetV2

__all__ = [
    "CIFAR100",
    "Caltech101",
    "DatasetSource",
    "DescribableTextures",
    "ETHEC",
    "Entity13",
    "Entity30",
    "EuroSAT",
    "FGVCAircraft",
    "Food101",
    "Fruits360",
    "HierConfigDataset",
    "HierImageFolder",
    "HierShapes",
    "HierarchicalDataset",
    "ImageNet",
    "ImageNetA",
    "ImageNetR",
    "ImageNetSketch",
    "ImageNetV2",
    "Living17",
    "Nonliving26",
    "OxfordFlowers",
    "OxfordPets",
    "SUN397",
    "StanfordCars",
    "UCF101",
    "subsample_leaves",
]
