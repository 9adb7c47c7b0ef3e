"""Datasets in CoOp's layout: an image folder plus CoOp's fixed ``split_zhou_<Name>.json``.

CoOp (and CoCoOp, MaPLe, KgCoOp, PromptSRC) evaluate on fixed splits published as
``split_zhou_<Name>.json``: ``{"train"|"val"|"test": [[relpath, label, classname], ...]}``, paths
relative to the dataset's image folder (CoOp's DATASETS.md says where each file goes). A dataset
here reads exactly those files, in exactly those folders, so an existing CoOp data root works.

The hierarchy is a file shipped in ``datasets/hierarchies/`` whose leaves are CoOp's class names
(CoOp rewrites some names when it writes a split, e.g. Caltech-101's ``airplanes`` -> ``airplane``;
each hierarchy file's header lists those rewrites). At load time the split's class names are matched
to it by :meth:`~hgclip.datasets.base.HierarchicalDataset.hierarchy_for_classes`, the same matching that
a CoOp/MaPLe checkout's dataset of the same ``DATASET.NAME`` gets on the plugin route
(:mod:`hgclip.datasets.leaf_match`):

* the split's class names must be exactly the file's leaves, minus the ``unused_leaves`` a dataset
  declares (e.g. Caltech-101's ``faces_easy``, which CoOp's split drops): one error lists up to 10
  names on each side otherwise;
* leaves are put in the order of the split's integer labels, so that base/new halves and
  relabelling are CoOp's whatever the line order of the hierarchy file;
* each leaf keeps the spelling of the split file (the class name CoOp prompts with, ``_`` aside),
  so prompts are CoOp's (``TRAINER.<NAME>.NAME_STYLE official``);
* a leaf that published copies of the data spell in more than one way declares the other spellings
  (``leaf_aliases``, e.g. Flowers' class 78, ``lotus lotus`` or ``lotus``): the split's spelling is
  accepted and becomes the leaf's name.

A missing split file is an error that gives the expected layout and the download: the split
must be CoOp's own for results to be comparable with published numbers, so none is generated.
"""
from __future__ import annotations

import os

from ..hierarchy import normalize_classname
from .base import DatasetSource, HierarchicalDataset
from .checks import require_paths
from .split_io import SPLIT_NAMES, class_order, read_split_rows, rows_to_data

COOP_DATASETS_MD = "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"


def split_spellings(rows: dict[str, list]) -> dict[str, str]:
    """Normalised class name -> its spelling in the split rows (the first one met)."""
    spellings: dict[str, str] = {}
    for items in rows.values():
        for _, _, classname in items:
            spellings.setdefault(normalize_classname(str(classname)), str(classname).strip())
    return spellings


class CoOpSplitDataset(HierarchicalDataset):
    """Base class of the datasets read from CoOp's ``split_zhou_*.json`` (see the module docstring).

    A subclass only states where its files are and which hierarchy file it uses (``hierarchy_file``,
    ``unused_leaves``, ``leaf_aliases``: :class:`~hgclip.datasets.base.HierarchicalDataset`).
    """

    #: folder under DATASET.ROOT (CoOp's DATASETS.md name)
    folder: str = ""
    #: image folder inside it that the split's paths are relative to ("" = the folder itself)
    image_subdir: str = ""
    #: CoOp's split file inside ``folder``
    split_file: str = ""
    #: where the data comes from, for the missing-file error
    download: str = ""

    def layout(self) -> str:
        images = f"{self.image_subdir}/, " if self.image_subdir else ""
        return f"<DATASET.ROOT>/{self.folder}/{{{images}{self.split_file}}}"

    def load_source(self, cfg) -> DatasetSource:
        name = type(self).__name__
        dataset_dir = os.path.join(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)), self.folder)
        image_dir = os.path.join(dataset_dir, self.image_subdir) if self.image_subdir else dataset_dir
        split_path = os.path.join(dataset_dir, self.split_file)
        require_paths(name, [dataset_dir + "/", image_dir + "/", split_path], self.layout(), self.download)

        rows = read_split_rows(split_path)
        spellings = split_spellings(rows)
        class_names = [spellings[name] for name in class_order(rows, split_path)]
        hierarchy = self.hierarchy_for_classes(class_names, cfg, split_path, every_leaf=True)
        if hierarchy is None:
            raise RuntimeError(f"{name} declares no hierarchy_file")

        splits = {
            split: rows_to_data(rows[split], image_dir, hierarchy, f"{split_path}:{split}", self.image_check)
            for split in SPLIT_NAMES
        }
        return DatasetSource(dataset_dir, image_dir, hierarchy, splits["train"], splits["val"], splits["test"],
                             images_checked=True)
