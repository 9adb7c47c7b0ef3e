from .build import DATASET_REGISTRY, build_dataset  # isort:skip
from .base_dataset import DatasetBase, Datum

__all__ = ["DATASET_REGISTRY", "build_dataset", "DatasetBase", "Datum"]
