"""HierarchicalDataset: the one place that turns a hierarchy and split lists into what trainers see.

A concrete dataset only reads its own on-disk format and returns a
:class:`DatasetSource`: the full :class:`~hierarchy.Hierarchy` and train/val/test
lists of Datum whose label is the leaf index in that full hierarchy. Everything
a protocol needs is then done here, data-driven from the hierarchy, in this order:

0. Image checks (``DATASET.CHECK_IMAGES``, ``DATASET.SKIP_UNREADABLE``; see
   :mod:`hgclip.datasets.image_check`), unless the reader already made them while listing the images.
1. ``DATASET.HIERARCHY_FILE`` (optional) replaces the tree above the leaves. It must
   list exactly the dataset's classes, or, where the dataset knows an id per class
   (``DatasetSource.leaf_ids``) and the file's leaves are ids, every class by id
   (:mod:`hgclip.datasets.id_match`); labels keep the dataset's leaf order, so
   base/new splits and few-shot caches do not depend on the file.
2. Few-shot sampling (``DATASET.NUM_SHOTS >= 1``): K shots per class from train and
   min(K, 4) from val, seeded by ``cfg.SEED``; cached under this project's own file name, and
   CoOp's draw used when its file is there (:mod:`hgclip.datasets.fewshot`).
3. Base/new subsampling (``DATASET.SUBSAMPLE_CLASSES``), after few-shot sampling as in
   CoOp/CoCoOp, with ``DATASET.SUBSAMPLE_RULE`` (see :func:`subsample_leaves`).
4. ``self.hierarchy = full_hierarchy.restrict(kept_leaves)``; every Datum is relabelled
   to its index in the restricted hierarchy (class name unchanged, domain 0).
5. An empty train or test split, or a kept class without images in one of them, is a
   one-line error (:func:`hgclip.datasets.checks.check_splits`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

from ..common.fileio import atomic_write_text
from ..hierarchy import Hierarchy, load_hierarchy
from ..runtime.dassl_api import DatasetBase, Datum
from .checks import check_splits, preview
from .fewshot import fewshot_splits
from .id_match import ClassIds, match_class_ids, match_ids
from .image_check import ImageCheck
from .leaf_match import ClassTree, match_leaves, without_leaves

SUBSAMPLE_CHOICES = ("all", "base", "new")
SUBSAMPLE_RULES = ("cocoop", "stratified")
HIERARCHIES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hierarchies")


@dataclass
class DatasetSource:
    """What a concrete dataset reads from disk, before any protocol is applied.

    Attributes:
        dataset_dir: where caches (``split_fewshot/``) are written.
        image_dir: the directory relative image paths in caches are resolved against.
        hierarchy: the full hierarchy; its leaf order is the label order.
        train, val, test: Datum lists labelled by leaf index in ``hierarchy``.
        test_only: an evaluation-only dataset (ImageNet-V2/-Sketch/-A/-R, a BREEDS target): ``train``
            is the test data again, only because Dassl needs a non-empty ``train_x``; no few-shot
            sampling is done, and ``HierarchicalDataset.test_only`` tells trainers never to learn from
            it or build prototypes from it.
        images_checked: the reader already passed every image through the dataset's
            :class:`~hgclip.datasets.image_check.ImageCheck`; otherwise the base class checks them.
        leaf_ids: per leaf of ``hierarchy``, the id the data uses for the class (ImageNet's wnids), or
            empty; a ``DATASET.HIERARCHY_FILE`` whose leaves are these ids is matched by them.
        id_names: a ``words.txt``-style file naming the ids (and the ids above them), or "".
    """

    dataset_dir: str
    image_dir: str
    hierarchy: Hierarchy
    train: list[Datum]
    val: list[Datum] = field(default_factory=list)
    test: list[Datum] = field(default_factory=list)
    test_only: bool = False
    images_checked: bool = False
    leaf_ids: tuple[str, ...] = ()
    id_names: str = ""


def _check_choice(key: str, value: str, accepted: Sequence[str]) -> str:
    normalised = str(value).strip().lower()
    if normalised not in accepted:
        raise ValueError(f"{key} must be one of {', '.join(accepted)}; got {value!r}")
    return normalised


def _ceil_half(items: Sequence[int], subsample: str) -> list[int]:
    """CoOp's rule on one sorted group: base = the first ceil(n/2), new = the rest."""
    cut = math.ceil(len(items) / 2)
    return list(items[:cut]) if subsample == "base" else list(items[cut:])


def subsample_leaves(hierarchy: Hierarchy, subsample: str = "all", rule: str = "cocoop") -> list[int]:
    """Leaf indices (ascending) kept by a base/new split.

    Rules:
        ``cocoop``: CoOp/CoCoOp's split. The leaf labels are sorted and the first
            ceil(n/2) are base, the rest new. Whole subtrees can land on one side.
        ``stratified``: the same ceil-half rule applied within each parent of the
            finest level (the leaf's siblings, sorted by label), so every parent with
            at least two children has classes on both sides and the coarse levels
            can be evaluated on new classes. A parent with one child puts it in base.
            For a one-level hierarchy it equals ``cocoop``.

    Unlike CoOp, which reads the label set of the training split, this uses all
    leaves of the hierarchy; the two agree whenever every class has training data.

    Raises:
        ValueError: ``subsample`` not in all/base/new or ``rule`` not in cocoop/stratified.
    """
    subsample = _check_choice("DATASET.SUBSAMPLE_CLASSES", subsample, SUBSAMPLE_CHOICES)
    rule = _check_choice("DATASET.SUBSAMPLE_RULE", rule, SUBSAMPLE_RULES)
    leaves = list(range(hierarchy.num_leaves))
    if subsample == "all":
        return leaves
    if rule == "cocoop" or hierarchy.num_levels < 2:
        return _ceil_half(leaves, subsample)
    siblings: dict[int, list[int]] = {}
    # the leaf's parent: on an any-depth tree its global id (-1: the root), as leaves sit at several levels
    parents = ([hierarchy.parents[node] for node in hierarchy.leaf_nodes] if hierarchy.ragged
               else hierarchy.ancestors[:, -2].tolist())
    for leaf, parent in enumerate(parents):
        siblings.setdefault(parent, []).append(leaf)
    kept = [leaf for group in siblings.values() for leaf in _ceil_half(group, subsample)]
    return sorted(kept)


def resolve_hierarchy_file(path: str) -> str:
    """Find a ``DATASET.HIERARCHY_FILE``: as given (absolute or from the working
    directory), else by name in the hierarchies shipped in ``datasets/hierarchies/``."""
    expanded = os.path.expanduser(path)
    if os.path.isfile(expanded):
        return expanded
    shipped = os.path.join(HIERARCHIES_DIR, expanded)
    if not os.path.isabs(expanded) and os.path.isfile(shipped):
        return shipped
    raise FileNotFoundError(f"DATASET.HIERARCHY_FILE {path!r}: no such file (also looked in {HIERARCHIES_DIR})")


def override_hierarchy(full: Hierarchy, path: str, leaf_ids: Sequence[str] = (), id_names: str = "") -> Hierarchy:
    """The tree of the file at ``path`` over the leaves of ``full``, in ``full``'s leaf order.

    Keeping the dataset's leaf order means labels, few-shot caches and base/new
    splits stay the same whichever hierarchy a run uses; only the upper levels change.
    With ``leaf_ids`` (one per leaf of ``full``) a file whose leaves are those ids is matched
    by id (:func:`hgclip.datasets.id_match.match_ids`); any other file by name.

    Raises:
        ValueError: the file's leaves are not exactly the dataset's classes (one line
            naming the file and the missing/extra names), or a class's id is not a leaf of an id-keyed file.
    """
    resolved = resolve_hierarchy_file(path)
    other = load_hierarchy(resolved)
    by_id = match_ids(other, ClassIds(full, tuple(leaf_ids), id_names), resolved) if leaf_ids else None
    if by_id is not None:
        return by_id
    ours, theirs = set(full.leaf_names), set(other.leaf_names)
    if ours != theirs:
        missing = [name for name in full.leaf_names if name not in theirs]
        extra = [name for name in other.leaf_names if name not in ours]
        problems = []
        if missing:
            problems.append(f"missing {len(missing)} of the dataset's classes: {preview(missing)}")
        if extra:
            problems.append(f"{len(extra)} leaves that are not classes of the dataset: {preview(extra)}")
        raise ValueError(f"DATASET.HIERARCHY_FILE {resolved}: leaves differ from the dataset; " + "; ".join(problems))
    index_of = {name: leaf for leaf, name in enumerate(other.leaf_names)}
    return other.rebuilt([index_of[name] for name in full.leaf_names])


def relabel(data: Sequence[Datum], new_label: dict[int, int]) -> list[Datum]:
    """Keep the Datum whose label is in ``new_label`` and give them the new label and domain 0."""
    return [
        Datum(impath=item.impath, label=new_label[item.label], domain=0, classname=item.classname)
        for item in data
        if item.label in new_label
    ]


class HierarchicalDataset(DatasetBase):
    """Base class of every dataset in this project (see the module docstring).

    Subclasses implement :meth:`load_source`. A dataset whose classes have a tree that this project
    ships or derives declares it in ONE place, :meth:`class_tree` (by default the ``hierarchy_file``
    shipped in ``datasets/hierarchies/`` minus its ``unused_leaves``), with the other spellings of its
    leaves in ``leaf_aliases``; :meth:`hierarchy_for_classes` matches any class list to it. The
    dataset's own reader and a CoOp/MaPLe checkout's flat dataset of the same name
    (:mod:`hgclip.datasets.attach`) both get their hierarchy that way. After construction:

    Attributes:
        hierarchy: the hierarchy of the kept classes; Datum labels index its leaves.
        full_hierarchy: the hierarchy of every class (after ``DATASET.HIERARCHY_FILE``).
        kept_leaves: indices into ``full_hierarchy``'s leaves of the kept classes.
        dataset_dir: where the dataset lives and its caches are written.
        test_only: an evaluation-only dataset (see :class:`DatasetSource`): ``train_x`` holds the
            test images again and must not be trained on or used for prototypes.
        image_check: the :class:`~hgclip.datasets.image_check.ImageCheck` of ``DATASET.CHECK_IMAGES``; readers
            call ``self.image_check.usable(path, where)`` before building a Datum.
    """

    #: shipped hierarchy file in datasets/hierarchies/ ("" = none, or a tree derived otherwise)
    hierarchy_file: str = ""
    #: leaves of the hierarchy file that the data does not have (e.g. Caltech-101's faces_easy in CoOp's split)
    unused_leaves: tuple[str, ...] = ()
    #: leaf -> other spellings of it in published copies of the data (e.g. Flowers' "lotus lotus": "lotus")
    leaf_aliases: Mapping[str, tuple[str, ...]] = {}

    @classmethod
    def class_tree(cls, cfg: Any) -> Optional[ClassTree]:
        """The tree whose leaves are this dataset's classes (canonical label order), or None when it has none
        that can be known before reading the data. Overridden by datasets whose tree is derived (FGVC, ImageNet)."""
        if not cls.hierarchy_file:
            return None
        path = resolve_hierarchy_file(cls.hierarchy_file)
        return ClassTree(without_leaves(load_hierarchy(path), cls.unused_leaves, path), path)

    @classmethod
    def hierarchy_for_classes(cls, class_names: Sequence[str], cfg: Any, where: str = "",
                              every_leaf: bool = False) -> Optional[Hierarchy]:
        """This dataset's tree over ``class_names`` (in their order and spelling), or None if it has no tree.

        ``class_names`` may be a subset (a base/new half) unless ``every_leaf``; see
        :func:`hgclip.datasets.leaf_match.match_leaves` for aliases and shared names. ``where`` names the
        class list in errors.
        """
        tree = cls.class_tree(cfg)
        if tree is None:
            return None
        return match_leaves(tree.hierarchy, class_names, f"{where or cls.__name__} vs {tree.source}",
                            cls.leaf_aliases, every_leaf)

    @classmethod
    def ids_for_classes(cls, class_names: Sequence[str], cfg: Any, where: str = "") -> Optional[ClassIds]:
        """``class_names`` matched to this dataset's classes (as :meth:`hierarchy_for_classes` does) with the id of
        each, or None where its classes have no ids: what matches an id-keyed ``DATASET.HIERARCHY_FILE`` to a
        checkout's flat dataset of this name (:mod:`hgclip.datasets.attach`)."""
        tree = cls.class_tree(cfg)
        if tree is None:
            return None
        return match_class_ids(tree, class_names, f"{where or cls.__name__} vs {tree.source}", cls.leaf_aliases)

    def __init__(self, cfg) -> None:
        self.image_check = ImageCheck.from_cfg(cfg)
        source = self.load_source(cfg)
        if not source.images_checked:
            source = self._checked(source)
        self.image_check.report(type(self).__name__)
        full = source.hierarchy
        if cfg.DATASET.HIERARCHY_FILE:
            full = override_hierarchy(full, cfg.DATASET.HIERARCHY_FILE, source.leaf_ids, source.id_names)
        kept = subsample_leaves(full, cfg.DATASET.SUBSAMPLE_CLASSES, cfg.DATASET.SUBSAMPLE_RULE)

        train, val, test = source.train, source.val, source.test
        if cfg.DATASET.NUM_SHOTS >= 1 and source.test_only:
            print(f"{type(self).__name__} is an evaluation-only dataset: DATASET.NUM_SHOTS is not applied")
        elif cfg.DATASET.NUM_SHOTS >= 1:
            train, val = self._fewshot(source, int(cfg.DATASET.NUM_SHOTS), int(cfg.SEED))

        hierarchy = full if len(kept) == full.num_leaves else full.restrict(kept)
        new_label = {old: new for new, old in enumerate(kept)}
        for old, new in new_label.items():
            if hierarchy.leaf_names[new] != full.leaf_names[old]:
                raise RuntimeError(f"restricted hierarchy reorders leaves: {full.leaf_names[old]!r} -> {new}")

        self.full_hierarchy: Hierarchy = full
        self.hierarchy: Hierarchy = hierarchy
        self.kept_leaves: list[int] = kept
        self.dataset_dir: str = source.dataset_dir
        self._train_all_classes = list(train)  # after few-shot sampling, labelled by full-hierarchy leaves
        self._subsample_rule = cfg.DATASET.SUBSAMPLE_RULE
        self.test_only: bool = source.test_only
        train_x, test = relabel(train, new_label), relabel(test, new_label)
        check_splits(train_x, test, hierarchy.leaf_names, f"{cfg.DATASET.NAME} ({source.dataset_dir})")
        super().__init__(train_x=train_x, val=relabel(val, new_label), test=test)

    def class_subset_train(self, subsample: str) -> tuple[list[Datum], Hierarchy]:
        """The training split of another class subset (``all``/``base``/``new``) and its hierarchy.

        The same few-shot draw as this dataset's own training split, relabelled for that
        subset: what HGCLIP builds its prototypes from when the evaluated classes have no
        training images of their own (base-to-new testing on new classes).
        """
        kept = subsample_leaves(self.full_hierarchy, subsample, self._subsample_rule)
        full = self.full_hierarchy
        hierarchy = full if len(kept) == full.num_leaves else full.restrict(kept)
        return relabel(self._train_all_classes, {old: new for new, old in enumerate(kept)}), hierarchy

    def load_source(self, cfg) -> DatasetSource:
        """Read the dataset from disk; labels are leaf indices of the returned hierarchy."""
        raise NotImplementedError

    def _checked(self, source: DatasetSource) -> DatasetSource:
        """``source`` with every image passed through :attr:`image_check` (for readers that did not)."""
        name = type(self).__name__
        splits = {
            split: self.image_check.keep_usable(getattr(source, split), f"the {split} split of {name}")
            for split in (("val", "test") if source.test_only else ("train", "val", "test"))
        }
        if source.test_only:
            splits["train"] = splits["test"]
        return replace(source, train=splits["train"], val=splits["val"], test=splits["test"], images_checked=True)

    def _fewshot(self, source: DatasetSource, num_shots: int, seed: int) -> tuple[list[Datum], list[Datum]]:
        """K-shot train and min(K, 4)-shot val (:mod:`hgclip.datasets.fewshot`: the draw, its cache, CoOp's file)."""
        return fewshot_splits(self.generate_fewshot_dataset, source.dataset_dir, source.image_dir, source.hierarchy,
                              source.train, source.val, num_shots, seed)


def write_text_if_changed(path: str, text: str) -> None:
    """Write an informational file (e.g. a derived hierarchy.txt) unless it is already
    up to date; a read-only dataset directory only costs a warning."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            if handle.read() == text:
                return
    except OSError:
        pass
    try:
        atomic_write_text(path, text)
    except OSError as error:
        print(f"Warning: could not write {path} ({error})")


def source_from_split_json(
    dataset_dir: str,
    split_file: str = "split.json",
    hierarchy_file: str = "hierarchy.txt",
    image_subdir: str = "images",
) -> DatasetSource:
    """A dataset stored as ``hierarchy.txt`` + a CoOp-style split JSON + ``images/``.

    The common path for the embedded HierShapes data and for any dataset whose
    split was written once by :func:`datasets.split_io.write_split_json`.
    """
    from .split_io import read_split_json

    hierarchy = load_hierarchy(os.path.join(dataset_dir, hierarchy_file))
    image_dir = os.path.join(dataset_dir, image_subdir)
    splits = read_split_json(os.path.join(dataset_dir, split_file), image_dir, hierarchy)
    return DatasetSource(dataset_dir, image_dir, hierarchy, splits["train"], splits["val"], splits["test"])
