"""Data: datasets, transforms, samplers, the batch wrapper and the DataManager."""
from .data_manager import DataManager, build_data_loader
from .datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
from .samplers import build_sampler
from .transforms import build_transform
from .wrapper import DatasetWrapper

__all__ = [
    "DataManager",
    "DatasetWrapper",
    "build_data_loader",
    "build_sampler",
    "build_transform",
    "DATASET_REGISTRY",
    "build_dataset",
    "DatasetBase",
    "Datum",
]
