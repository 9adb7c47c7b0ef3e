"""The dataset registry: ``DATASET.NAME`` selects a registered DatasetBase subclass."""
from __future__ import annotations

from yacs.config import CfgNode

from ...utils import Registry, check_availability

DATASET_REGISTRY = Registry("DATASET")


def build_dataset(cfg: CfgNode):
    """Instantiate the dataset class named by ``cfg.DATASET.NAME`` with ``cfg``."""
    check_availability(cfg.DATASET.NAME, DATASET_REGISTRY.registered_names())
    if cfg.VERBOSE:
        print(f"Loading dataset: {cfg.DATASET.NAME}")
    return DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)
