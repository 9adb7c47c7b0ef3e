"""Datasets of this project; importing the package registers every one in DATASET_REGISTRY.

``hgclip.datasets.base.HierarchicalDataset`` applies the protocol (few-shot sampling,
base/new split, hierarchy override, relabelling); each module below only reads
one on-disk format. ``datasets/image_folder.py`` explains how to add a dataset.
"""
from .base import DatasetSource, HierarchicalDataset, subsample_leaves
from .hiershapes import HierShapes
from .cifar100 import CIFAR100
from .fgvc_aircraft import FGVCAircraft
from .image_folder import HierImageFolder
from .ethec import ETHEC

__all__ = [
    "CIFAR100",
    "DatasetSource",
    "ETHEC",
    "FGVCAircraft",
    "HierImageFolder",
    "HierShapes",
    "HierarchicalDataset",
    "subsample_leaves",
]
