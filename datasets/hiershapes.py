"""HierShapes: the embedded synthetic dataset, registered like any real dataset.

It is generated on first use into ``<DATASET.ROOT>/hiershapes`` (seed
``DATASET.HIERSHAPES.SEED``) and then read through the same split-JSON path as
every file-based dataset, so the default configuration exercises the real code.
"""
from __future__ import annotations

from hgclip.registry import register_dataset

from .base import DatasetSource, HierarchicalDataset, source_from_split_json


@register_dataset
class HierShapes(HierarchicalDataset):
    """Coloured shapes, family > shape > object; no download needed."""

    def load_source(self, cfg) -> DatasetSource:
        from hgclip.embedded.hiershapes import ensure_hiershapes  # the generator is only needed for this dataset

        dataset_dir = ensure_hiershapes(cfg.DATASET.ROOT, seed=int(cfg.DATASET.HIERSHAPES.SEED))
        return source_from_split_json(dataset_dir, split_file="split.json", hierarchy_file="hierarchy.txt")
