"""HierShapes: the embedded synthetic dataset, registered like any real dataset.

It is generated on first use into ``<DATASET.ROOT>/hiershapes`` (seed
``DATASET.HIERSHAPES.SEED``) and then read through the same split-JSON path as
every file-based dataset, so the default configuration exercises the real code.
Without a ``DATASET.ROOT`` (``--root``) it says where it generates (the current
directory), and refuses to write 26 MB of images inside this repository.
"""
from __future__ import annotations

import os

from ..registry import register_dataset
from .base import DatasetSource, HierarchicalDataset, source_from_split_json

_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _inside_repository(path: str) -> bool:
    """Whether ``path`` lies inside this source checkout (an installed package has no checkout)."""
    if not os.path.isfile(os.path.join(_REPOSITORY, "train.py")):
        return False
    repo, path = os.path.realpath(_REPOSITORY), os.path.realpath(path)
    return path == repo or path.startswith(repo + os.sep)


def dataset_root(root: str) -> str:
    """``DATASET.ROOT``, or the current directory when it is empty (said out loud; refused inside the repository)."""
    if root:
        return root
    here = os.getcwd()
    target = os.path.join(here, "hiershapes")
    if _inside_repository(here):
        raise ValueError(f"DATASET.ROOT is empty (--root not given): HierShapes would be generated into {target}, "
                         "inside the repository; pass --root <folder for datasets>")
    print(f"DATASET.ROOT is empty (--root not given): using HierShapes in {target} (generated there if missing)")
    return here


@register_dataset
class HierShapes(HierarchicalDataset):
    """Coloured shapes, family > shape > object; no download needed."""

    def load_source(self, cfg) -> DatasetSource:
        from ..embedded.hiershapes import ensure_hiershapes  # the generator is only needed for this dataset

        dataset_dir = ensure_hiershapes(dataset_root(cfg.DATASET.ROOT), seed=int(cfg.DATASET.HIERSHAPES.SEED))
        return source_from_split_json(dataset_dir, split_file="split.json", hierarchy_file="hierarchy.txt")
