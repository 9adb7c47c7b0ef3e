"""ImageNet and its domain-shift test sets, in CoOp's layout, with a WordNet hierarchy.

Layouts (CoOp's DATASETS.md; every folder holds CoOp's ``classnames.txt``, "<wnid> <class name>"
per line, copied from ``imagenet/``)::

    <ROOT>/imagenet/images/{train,val}/<wnid>/*.JPEG              ImageNet          (train + test)
    <ROOT>/imagenetv2/imagenetv2-matched-frequency-format-val/<0..999>/*.jpeg   ImageNetV2   (test only)
    <ROOT>/imagenet-sketch/images/<wnid>/*.JPEG                   ImageNetSketch    (test only)
    <ROOT>/imagenet-adversarial/imagenet-a/<wnid>/*.jpg           ImageNetA, 200 classes (test only)
    <ROOT>/imagenet-rendition/imagenet-r/<wnid>/*.jpg             ImageNetR, 200 classes (test only)

The hierarchy comes from ImageNet's ``wordnet.is_a.txt`` and ``words.txt`` in
``DATASET.WORDNET.DIR`` (default ``<ROOT>/imagenet``, shared by all five datasets) by the rule of
:mod:`datasets.wordnet`, always over all 1000 classes, so that every node has the same name in the
source and in each target. ImageNet-A and -R keep their 200 classes (``datasets/class_lists/``,
from the datasets' own evaluation code) and the tree restricted to them; their folders must be
exactly those 200. ``DATASET.HIERARCHY_FILE`` may be keyed by wnid (Making Better Mistakes'
``mbm_imagenet.txt``): it is matched by the classes' wnids and its inner wnids are named from
``words.txt`` (:mod:`datasets.id_match`).

Labels follow sorted wnids, CoOp's order (its sorted class folders; ImageNetV2's folder ``i`` is
the i-th class in that order). ImageNet uses the official val images as its test split, as in CoOp,
but has no validation split here (CoOp uses the test images as validation too; selecting or
monitoring on them would leak the test set). The test-only sets pass their test images as
``train_x`` because Dassl needs one, flagged by ``test_only``: never train or build prototypes on it.
"""
from __future__ import annotations

import os
from typing import Optional

from ..hierarchy import Hierarchy
from ..registry import register_dataset
from ..runtime.dassl_api import Datum
from .base import DatasetSource, HierarchicalDataset
from .checks import DatasetLayoutError, check_same_names, require_paths
from .coop_split import COOP_DATASETS_MD
from .image_folder import IMAGE_EXTENSIONS
from .leaf_match import ClassTree
from .wordnet import wordnet_files, wordnet_hierarchy

CLASSNAMES_FILE = "classnames.txt"
CLASS_LISTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "class_lists")


def read_classnames(path: str) -> list[tuple[str, str]]:
    """``(wnid, class name)`` pairs of a CoOp ``classnames.txt``, sorted by wnid (CoOp's label order)."""
    pairs: dict[str, str] = {}
    with open(path, "r", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            wnid, _, name = line.strip().partition(" ")
            if not wnid:
                continue
            if not name.strip():
                raise ValueError(f"{path}:{line_number}: expected '<wnid> <class name>', got {line.strip()!r}")
            if wnid in pairs:
                raise ValueError(f"{path}:{line_number}: {wnid} is listed twice")
            pairs[wnid] = name.strip()
    return sorted(pairs.items())


def read_wnid_list(name: str) -> list[str]:
    """A shipped class list (``datasets/class_lists/<name>``): one wnid per line, ``#`` comments."""
    with open(os.path.join(CLASS_LISTS_DIR, name), "r", encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


def subfolders(directory: str) -> list[str]:
    return sorted(entry.name for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith("."))


class ImageNetFamily(HierarchicalDataset):
    """Shared reading of the ImageNet-style datasets (see the module docstring).

    A subclass names its ``folder``, ``image_subdir`` and ``download``, and implements
    :meth:`read_splits`; ``class_list`` restricts it to a shipped subset of the 1000 classes.
    """

    folder: str = ""
    image_subdir: str = ""
    download: str = ""
    class_list: str = ""
    evaluation_only: bool = True

    @classmethod
    def layout(cls) -> str:
        return f"<DATASET.ROOT>/{cls.folder}/{{{cls.image_subdir}/<class folder>/, {CLASSNAMES_FILE}}}"

    @classmethod
    def class_tree(cls, cfg) -> ClassTree:
        """The WordNet tree of the classes of ``<ROOT>/<folder>/classnames.txt`` (restricted to ``class_list``),
        with their wnids: what this reader uses, and what a CoOp checkout's dataset of the same name gets
        (its reader reads the same ``classnames.txt``)."""
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        classnames = os.path.join(root, cls.folder, CLASSNAMES_FILE)
        require_paths(cls.__name__, [classnames], cls.layout(), cls.download)
        classes = read_classnames(classnames)
        wordnet_dir = os.path.expanduser(cfg.DATASET.WORDNET.DIR or os.path.join(root, "imagenet"))
        is_a, words = wordnet_files(wordnet_dir, cls.__name__)
        hierarchy = wordnet_hierarchy(classes, is_a, words, cfg.DATASET.WORDNET.LEVELS)
        wnids = [wnid for wnid, _ in classes]
        if cls.class_list:
            subset = read_wnid_list(cls.class_list)
            check_same_names(subset, wnids, f"datasets/class_lists/{cls.class_list}", classnames, what="wnids",
                             every_expected=False)
            keep = set(subset)
            kept = [index for index, wnid in enumerate(wnids) if wnid in keep]
            hierarchy = hierarchy.restrict(kept)
            wnids = [wnids[index] for index in kept]
        return ClassTree(hierarchy, f"{classnames} and the WordNet files in {wordnet_dir}", tuple(wnids), words)

    def load_source(self, cfg) -> DatasetSource:
        name = type(self).__name__
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        dataset_dir = os.path.join(root, self.folder)
        image_dir = os.path.join(dataset_dir, self.image_subdir)
        classnames = os.path.join(dataset_dir, CLASSNAMES_FILE)
        require_paths(name, [dataset_dir + "/", image_dir + "/", classnames], self.layout(), self.download)

        tree = self.class_tree(cfg)
        hierarchy, wnids = tree.hierarchy, list(tree.leaf_ids)
        train, test = self.read_splits(image_dir, wnids, hierarchy)
        ids = {"leaf_ids": tree.leaf_ids, "id_names": tree.id_names}  # DATASET.HIERARCHY_FILE may be keyed by wnid
        if self.evaluation_only:
            return DatasetSource(dataset_dir, image_dir, hierarchy, test, [], test, test_only=True, images_checked=True,
                                 **ids)
        return DatasetSource(dataset_dir, image_dir, hierarchy, train, [], test, images_checked=True, **ids)

    def read_splits(self, image_dir: str, wnids: list[str], hierarchy: Hierarchy) -> tuple[list[Datum], list[Datum]]:
        """(train, test) Datum lists; test-only datasets return ``([], test)``."""
        return [], self.read_class_folders(image_dir, wnids, hierarchy)

    def read_class_folders(
        self, split_dir: str, wnids: list[str], hierarchy: Hierarchy, folder_names: Optional[list[str]] = None
    ) -> list[Datum]:
        """Every image of ``split_dir/<folder>/`` where ``folder_names[i]`` (default the wnids) holds class i.

        The folders present must be exactly the expected ones (one error lists the differences).
        """
        folder_names = list(wnids) if folder_names is None else folder_names
        check_same_names(subfolders(split_dir), folder_names, split_dir, f"the classes of {type(self).__name__}",
                         what="class folders")
        data = []
        for label, folder in enumerate(folder_names):
            folder_dir = os.path.join(split_dir, folder)
            classname = hierarchy.leaf_names[label]
            for entry in sorted(os.scandir(folder_dir), key=lambda e: e.name):
                if entry.name.startswith(".") or not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                if self.image_check.usable(entry.path, folder_dir):
                    data.append(Datum(impath=entry.path, label=label, classname=classname))
        return data


def _coop(section: str) -> str:
    return f"{CLASSNAMES_FILE} from CoOp's DATASETS.md ({COOP_DATASETS_MD}#{section})"


@register_dataset
class ImageNet(ImageNetFamily):
    """ImageNet-1k: WordNet levels (``DATASET.WORDNET.LEVELS``) > 1000 classes; val is the test split."""

    folder = "imagenet"
    image_subdir = "images"
    download = ("ILSVRC-2012 train and val from https://image-net.org/download.php (val sorted into <wnid>/ "
                "folders); " + _coop("imagenet"))
    evaluation_only = False

    @classmethod
    def layout(cls) -> str:
        return f"<DATASET.ROOT>/imagenet/{{images/train/<wnid>/, images/val/<wnid>/, {CLASSNAMES_FILE}}}"

    def load_source(self, cfg) -> DatasetSource:
        image_dir = os.path.join(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)), self.folder, self.image_subdir)
        for split in ("train", "val"):
            if os.path.isdir(image_dir) and not os.path.isdir(os.path.join(image_dir, split)):
                raise DatasetLayoutError(
                    f"ImageNet: {os.path.join(image_dir, split)} not found; expected {self.layout()}; download: {self.download}"
                )
        return super().load_source(cfg)

    def read_splits(self, image_dir: str, wnids: list[str], hierarchy: Hierarchy):
        return (self.read_class_folders(os.path.join(image_dir, "train"), wnids, hierarchy),
                self.read_class_folders(os.path.join(image_dir, "val"), wnids, hierarchy))


@register_dataset
class ImageNetV2(ImageNetFamily):
    """ImageNetV2 matched-frequency (test only): folder i is ImageNet class i."""

    folder = "imagenetv2"
    image_subdir = "imagenetv2-matched-frequency-format-val"
    download = ("imagenetv2-matched-frequency.tar.gz from https://github.com/modestyachts/ImageNetV2; "
                + _coop("imagenetv2") + " (copied from imagenet/)")

    def read_splits(self, image_dir: str, wnids: list[str], hierarchy: Hierarchy):
        return [], self.read_class_folders(image_dir, wnids, hierarchy, [str(i) for i in range(len(wnids))])


@register_dataset
class ImageNetSketch(ImageNetFamily):
    """ImageNet-Sketch (test only): 1000 classes."""

    folder = "imagenet-sketch"
    image_subdir = "images"
    download = "https://github.com/HaohanWang/ImageNet-Sketch; " + _coop("imagenet-sketch") + " (copied from imagenet/)"


@register_dataset
class ImageNetA(ImageNetFamily):
    """ImageNet-A (test only): its 200 classes, with the ImageNet tree restricted to them."""

    folder = "imagenet-adversarial"
    image_subdir = "imagenet-a"
    class_list = "imagenet_a_wnids.txt"
    download = ("imagenet-a.tar from https://github.com/hendrycks/natural-adv-examples; "
                + _coop("imagenet-a") + " (copied from imagenet/)")


@register_dataset
class ImageNetR(ImageNetFamily):
    """ImageNet-R (test only): its 200 classes, with the ImageNet tree restricted to them."""

    folder = "imagenet-rendition"
    image_subdir = "imagenet-r"
    class_list = "imagenet_r_wnids.txt"
    download = ("imagenet-r.tar from https://github.com/hendrycks/imagenet-r; "
                + _coop("imagenet-r") + " (copied from imagenet/)")
