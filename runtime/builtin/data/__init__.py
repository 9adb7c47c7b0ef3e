"""Data: the dataset registry, ``Datum``/``DatasetBase``, transforms and the batch wrapper."""
from .datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
from .transforms import build_transform
from .wrapper import DatasetWrapper

__all__ = ["DatasetWrapper", "build_transform", "DATASET_REGISTRY", "build_dataset", "DatasetBase", "Datum"]
