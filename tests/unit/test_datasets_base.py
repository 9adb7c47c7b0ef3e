"""HierarchicalDataset protocol: base/new rules, relabelling, few-shot cache, hierarchy override."""
from __future__ import annotations

import json
import os
import pickle
import random
import shutil

import pytest
from PIL import Image

from hgclip.config import extend_cfg
from hgclip.datasets.base import (
    DatasetSource,
    HierarchicalDataset,
    subsample_leaves,
)
from hgclip.datasets.fewshot import CACHE_VERSION, cache_path, coop_path
from hgclip.datasets.split_io import read_split_json, write_split_json
from hgclip.hierarchy import Hierarchy, parse_hierarchy_text
from hgclip.runtime.dassl_api import get_cfg_default

# 7 leaves with odd group sizes: x1 has 3 children, x2 and y2 one, y1 two.
TOY_TEXT = """levels: top > mid > leaf
X > x1 > l0
X > x1 > l1
X > x1 > l2
X > x2 > l3
Y > y1 > l4
Y > y1 > l5
Y > y2 > l6
"""
TOY = parse_hierarchy_text(TOY_TEXT)
SPLIT_SIZES = {"train": 5, "val": 3, "test": 2}


def make_cfg(root: str, **dataset_keys) -> object:
    cfg = extend_cfg(get_cfg_default())
    cfg.DATASET.ROOT = str(root)
    cfg.SEED = 1
    for key, value in dataset_keys.items():
        setattr(cfg.DATASET, key, value)
    return cfg


def write_toy_dataset(root: str) -> str:
    """``<root>/toy/{hierarchy.txt, split.json, images/<leaf>/<split>_<i>.png}``."""
    dataset_dir = os.path.join(root, "toy")
    rows = {split: [] for split in SPLIT_SIZES}
    for label, leaf in enumerate(TOY.leaf_names):
        os.makedirs(os.path.join(dataset_dir, "images", leaf), exist_ok=True)
        for split, count in SPLIT_SIZES.items():
            for index in range(count):
                relpath = f"{leaf}/{split}_{index}.png"
                Image.new("RGB", (4, 4), (label * 30, index * 40, 0)).save(os.path.join(dataset_dir, "images", relpath))
                rows[split].append([relpath, label, leaf])
    with open(os.path.join(dataset_dir, "hierarchy.txt"), "w") as handle:
        handle.write(TOY_TEXT)
    with open(os.path.join(dataset_dir, "split.json"), "w") as handle:
        json.dump(rows, handle)
    return dataset_dir


class ToyDataset(HierarchicalDataset):
    """Reads the toy copy through the same split-JSON path as HierShapes."""

    def load_source(self, cfg) -> DatasetSource:
        from hgclip.datasets.base import source_from_split_json

        return source_from_split_json(os.path.join(cfg.DATASET.ROOT, "toy"))


@pytest.fixture
def toy_root(tmp_path):
    root = tmp_path / "data"
    write_toy_dataset(str(root))
    return root


# ---------------------------------------------------------------------------------- subsample rules
def test_cocoop_rule_on_hiershapes_like_hierarchy():
    from hgclip.embedded.hiershapes import hierarchy_text

    shapes = parse_hierarchy_text(hierarchy_text())
    n = shapes.num_leaves
    assert n % 2 == 0
    assert subsample_leaves(shapes, "base", "cocoop") == list(range(n // 2))
    assert subsample_leaves(shapes, "new", "cocoop") == list(range(n // 2, n))
    assert subsample_leaves(shapes, "all", "cocoop") == list(range(n))


def test_cocoop_rule_uses_ceil_on_odd_counts():
    assert subsample_leaves(TOY, "base", "cocoop") == [0, 1, 2, 3]
    assert subsample_leaves(TOY, "new", "cocoop") == [4, 5, 6]


def test_stratified_rule_splits_within_each_parent():
    # x1: [0,1,2] -> base 0,1 / new 2;  x2: [3] -> base;  y1: [4,5] -> 4 / 5;  y2: [6] -> base
    assert subsample_leaves(TOY, "base", "stratified") == [0, 1, 3, 4, 6]
    assert subsample_leaves(TOY, "new", "stratified") == [2, 5]


def test_stratified_on_one_level_hierarchy_equals_cocoop():
    flat = Hierarchy(["class"], [[f"c{i}"] for i in range(5)])
    assert subsample_leaves(flat, "base", "stratified") == subsample_leaves(flat, "base", "cocoop") == [0, 1, 2]


@pytest.mark.parametrize("rule", ["cocoop", "stratified"])
def test_base_and_new_partition_the_leaves(rule):
    base, new = subsample_leaves(TOY, "base", rule), subsample_leaves(TOY, "new", rule)
    assert sorted(base + new) == list(range(TOY.num_leaves)) and not set(base) & set(new)


def test_bad_subsample_values_name_the_key_and_choices():
    with pytest.raises(ValueError, match=r"DATASET\.SUBSAMPLE_RULE must be one of cocoop, stratified; got 'random'"):
        subsample_leaves(TOY, "base", "random")
    with pytest.raises(ValueError, match=r"DATASET\.SUBSAMPLE_CLASSES must be one of all, base, new; got 'half'"):
        subsample_leaves(TOY, "half", "cocoop")


def test_bad_subsample_rule_in_cfg_fails_at_build(toy_root):
    with pytest.raises(ValueError, match="DATASET.SUBSAMPLE_RULE"):
        ToyDataset(make_cfg(toy_root, SUBSAMPLE_RULE="bogus"))


# ---------------------------------------------------------------------------------- relabelling
@pytest.mark.parametrize("subsample", ["all", "base", "new"])
@pytest.mark.parametrize("rule", ["cocoop", "stratified"])
def test_relabelling_matches_restricted_hierarchy(toy_root, subsample, rule):
    dataset = ToyDataset(make_cfg(toy_root, SUBSAMPLE_CLASSES=subsample, SUBSAMPLE_RULE=rule))
    kept = subsample_leaves(TOY, subsample, rule)
    assert dataset.kept_leaves == kept
    assert dataset.full_hierarchy == TOY
    assert dataset.hierarchy.leaf_names == tuple(TOY.leaf_names[i] for i in kept)
    # the restricted hierarchy keeps every kept leaf's full ancestor path
    assert dataset.hierarchy.paths == tuple(TOY.paths[i] for i in kept)
    assert dataset.num_classes == len(kept)
    assert dataset.classnames == list(dataset.hierarchy.leaf_names)
    for split in (dataset.train_x, dataset.val, dataset.test):
        assert {item.label for item in split} == set(range(len(kept)))
        for item in split:
            assert dataset.hierarchy.leaf_names[item.label] == item.classname
            assert item.domain == 0
            assert os.path.basename(os.path.dirname(item.impath)) == item.classname
    assert len(dataset.train_x) == SPLIT_SIZES["train"] * len(kept)
    assert len(dataset.test) == SPLIT_SIZES["test"] * len(kept)
    assert dataset.dataset_dir == os.path.join(str(toy_root), "toy")


def test_new_split_keeps_ancestors_of_new_leaves(toy_root):
    dataset = ToyDataset(make_cfg(toy_root, SUBSAMPLE_CLASSES="new", SUBSAMPLE_RULE="cocoop"))
    assert dataset.hierarchy.level_names == TOY.level_names
    assert dataset.hierarchy.names_at_level(0) == ["Y"]
    assert dataset.hierarchy.names_at_level(1) == ["y1", "y2"]
    assert dataset.hierarchy.level_sizes == (1, 2, 3)


# ---------------------------------------------------------------------------------- few-shot
def _count_per_label(data):
    counts = {}
    for item in data:
        counts[item.label] = counts.get(item.label, 0) + 1
    return counts


def test_fewshot_counts_and_cache_with_relative_paths(toy_root):
    dataset = ToyDataset(make_cfg(toy_root, NUM_SHOTS=2))
    assert _count_per_label(dataset.train_x) == {label: 2 for label in range(7)}
    assert _count_per_label(dataset.val) == {label: 2 for label in range(7)}  # min(K, 4) = 2
    assert len(dataset.test) == 7 * SPLIT_SIZES["test"]  # test is never subsampled

    cache = cache_path(os.path.join(str(toy_root), "toy"), 2, 1)
    assert cache.endswith(os.path.join("toy", "split_fewshot", "hgclip_shot_2-seed_1.json"))
    assert not os.path.exists(coop_path(os.path.join(str(toy_root), "toy"), 2, 1))  # CoOp's name is never written
    with open(cache, encoding="utf-8") as handle:
        content = json.load(handle)
    for row in content["train"] + content["val"]:
        relpath, label, classname = row
        assert not os.path.isabs(relpath) and relpath.startswith(classname + "/")
        assert TOY.leaf_names[label] == classname
    assert len(content["train"]) == 14 and len(content["val"]) == 14


def test_val_shots_are_capped_at_four(toy_root):
    dataset = ToyDataset(make_cfg(toy_root, NUM_SHOTS=16))
    assert _count_per_label(dataset.train_x) == {label: SPLIT_SIZES["train"] for label in range(7)}  # fewer than K
    assert _count_per_label(dataset.val) == {label: SPLIT_SIZES["val"] for label in range(7)}


def test_fewshot_cache_survives_moving_the_root(toy_root, tmp_path, monkeypatch):
    first = ToyDataset(make_cfg(toy_root, NUM_SHOTS=2))
    picked = sorted(os.path.relpath(item.impath, str(toy_root)) for item in first.train_x)

    moved = tmp_path / "moved"
    shutil.move(str(toy_root), str(moved))

    def no_sampling(*args, **kwargs):
        raise AssertionError("the few-shot cache should have been reused")

    monkeypatch.setattr(ToyDataset, "generate_fewshot_dataset", no_sampling)
    second = ToyDataset(make_cfg(moved, NUM_SHOTS=2))
    assert sorted(os.path.relpath(item.impath, str(moved)) for item in second.train_x) == picked
    assert all(item.impath.startswith(str(moved)) for item in second.train_x + second.val)


def test_fewshot_is_sampled_before_base_new_and_shared(toy_root, monkeypatch):
    everything = ToyDataset(make_cfg(toy_root, NUM_SHOTS=2))
    monkeypatch.setattr(ToyDataset, "generate_fewshot_dataset", lambda *a, **k: pytest.fail("resampled"))
    new = ToyDataset(make_cfg(toy_root, NUM_SHOTS=2, SUBSAMPLE_CLASSES="new"))
    offset = 4  # new = leaves 4..6, relabelled 0..2
    expected = sorted(item.impath for item in everything.train_x if item.label >= offset)
    assert sorted(item.impath for item in new.train_x) == expected


def test_fewshot_depends_on_seed_only_and_restores_global_rng(toy_root):
    random.seed(123)
    state = random.getstate()
    a = ToyDataset(make_cfg(toy_root, NUM_SHOTS=1))
    assert random.getstate() == state
    shutil.rmtree(os.path.join(str(toy_root), "toy", "split_fewshot"))
    random.random()  # a different global state must not change the draw
    b = ToyDataset(make_cfg(toy_root, NUM_SHOTS=1))
    assert [item.impath for item in a.train_x] == [item.impath for item in b.train_x]


def test_stale_or_foreign_cache_is_resampled(toy_root):
    cache = cache_path(os.path.join(str(toy_root), "toy"), 2, 1)
    os.makedirs(os.path.dirname(cache))
    with open(cache, "w", encoding="utf-8") as handle:
        json.dump({"train": ["not", "rows"], "val": []}, handle)
    dataset = ToyDataset(make_cfg(toy_root, NUM_SHOTS=2))
    assert len(dataset.train_x) == 14
    with open(cache, encoding="utf-8") as handle:
        assert json.load(handle)["version"] == CACHE_VERSION


class _PickledDatum:
    """Pickles as Dassl's Datum does (``dassl.data.datasets.base_dataset.Datum``, private attributes)."""

    def __init__(self, impath, label, classname):
        self._impath, self._label, self._domain, self._classname = impath, label, 0, classname


_PickledDatum.__module__, _PickledDatum.__qualname__ = "dassl.data.datasets.base_dataset", "Datum"


def _write_coop_pickle(path, train, val):
    """A few-shot file as CoOp/MaPLe write it: ``pickle.dump({"train": [Datum], "val": [Datum]})``."""
    import sys
    import types

    names = ["dassl", "dassl.data", "dassl.data.datasets", "dassl.data.datasets.base_dataset"]
    saved = {name: sys.modules.get(name) for name in names}
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[names[-1]].Datum = _PickledDatum
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            pickle.dump({"train": train, "val": val}, handle, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_coops_few_shot_file_is_used_and_never_written(toy_root, tmp_path):
    """CoOp/MaPLe's shot_K-seed_S.pkl (absolute paths from another root) decides the draw; it is left as it was."""
    full = ToyDataset(make_cfg(toy_root, NUM_SHOTS=-1))
    by_label = {}
    for item in full.train_x:
        by_label.setdefault(item.label, []).append(item)
    other_root = "/elsewhere/data/toy"  # where CoOp ran: only the tail under the image folder matters
    chosen = [items[-1] for items in by_label.values()]  # the last image of each class: not what the seed draws
    train = [_PickledDatum(os.path.join(other_root, os.path.relpath(item.impath, os.path.join(str(toy_root), "toy"))),
                           item.label, item.classname) for item in chosen]
    coops = coop_path(os.path.join(str(toy_root), "toy"), 1, 1)
    _write_coop_pickle(coops, train, [])
    before = open(coops, "rb").read()

    dataset = ToyDataset(make_cfg(toy_root, NUM_SHOTS=1))
    assert sorted(item.impath for item in dataset.train_x) == sorted(item.impath for item in chosen)
    assert dataset.val == []
    assert open(coops, "rb").read() == before


def test_a_coop_file_naming_other_images_or_code_is_not_used(toy_root):
    drawn = [item.impath for item in ToyDataset(make_cfg(toy_root, NUM_SHOTS=1)).train_x]
    coops = coop_path(os.path.join(str(toy_root), "toy"), 1, 1)
    _write_coop_pickle(coops, [_PickledDatum("/x/not_in_the_split.jpg", 0, "a")], [])
    assert [item.impath for item in ToyDataset(make_cfg(toy_root, NUM_SHOTS=1)).train_x] == drawn
    with open(coops, "wb") as handle:  # a pickle that would run code when loaded is refused, not run
        pickle.dump({"train": [os.system]}, handle)
    assert [item.impath for item in ToyDataset(make_cfg(toy_root, NUM_SHOTS=1)).train_x] == drawn


def test_the_file_an_earlier_version_wrote_under_coops_name_is_given_back(toy_root):
    dataset_dir = os.path.join(str(toy_root), "toy")
    drawn = ToyDataset(make_cfg(toy_root, NUM_SHOTS=1))
    with open(cache_path(dataset_dir, 1, 1), encoding="utf-8") as handle:
        content = json.load(handle)
    os.remove(cache_path(dataset_dir, 1, 1))
    legacy = coop_path(dataset_dir, 1, 1)
    with open(legacy, "wb") as handle:
        pickle.dump({**content, "version": 1}, handle, protocol=4)  # what the earlier version wrote
    again = ToyDataset(make_cfg(toy_root, NUM_SHOTS=1))
    assert not os.path.exists(legacy) and os.path.isfile(cache_path(dataset_dir, 1, 1))
    assert [i.impath for i in again.train_x] == [i.impath for i in drawn.train_x]


def test_negative_seed_writes_no_cache(toy_root):
    cfg = make_cfg(toy_root, NUM_SHOTS=2)
    cfg.SEED = -1
    dataset = ToyDataset(cfg)
    assert len(dataset.train_x) == 14
    assert not os.path.exists(os.path.join(str(toy_root), "toy", "split_fewshot"))


# ---------------------------------------------------------------------------------- hierarchy override
def test_hierarchy_file_override_keeps_dataset_leaf_order(toy_root, tmp_path):
    override = tmp_path / "other.txt"
    # a 2-level tree over the same leaves, listed in another order
    override.write_text("levels: group > leaf\nodd > l1\nodd > l3\nodd > l5\neven > l0\neven > l2\neven > l4\neven > l6\n")
    dataset = ToyDataset(make_cfg(toy_root, HIERARCHY_FILE=str(override)))
    assert dataset.full_hierarchy.level_names == ("group", "leaf")
    assert dataset.full_hierarchy.leaf_names == TOY.leaf_names
    assert dataset.hierarchy.ancestors[:, 0].tolist() == [0, 1, 0, 1, 0, 1, 0]
    for item in dataset.train_x:
        assert dataset.hierarchy.leaf_names[item.label] == item.classname


def test_hierarchy_file_override_with_other_leaves_fails(toy_root, tmp_path):
    override = tmp_path / "wrong.txt"
    override.write_text("levels: group > leaf\ng > l0\ng > l1\ng > l2\ng > l3\ng > l4\ng > l5\ng > l99\n")
    with pytest.raises(ValueError) as error:
        ToyDataset(make_cfg(toy_root, HIERARCHY_FILE=str(override)))
    message = str(error.value)
    assert "\n" not in message
    assert str(override) in message and "'l6'" in message and "'l99'" in message


def test_missing_hierarchy_file_is_reported(toy_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="DATASET.HIERARCHY_FILE"):
        ToyDataset(make_cfg(toy_root, HIERARCHY_FILE=str(tmp_path / "absent.txt")))


# ---------------------------------------------------------------------------------- split files
def test_split_json_round_trip_and_errors(toy_root, tmp_path):
    dataset_dir = os.path.join(str(toy_root), "toy")
    image_dir = os.path.join(dataset_dir, "images")
    splits = read_split_json(os.path.join(dataset_dir, "split.json"), image_dir, TOY)
    out = tmp_path / "copy.json"
    write_split_json(str(out), splits, image_dir)
    again = read_split_json(str(out), image_dir, TOY)
    assert [(d.impath, d.label) for d in again["train"]] == [(d.impath, d.label) for d in splits["train"]]

    out.write_text('{"train": [["l0/train_0.png", 0, "not a leaf"]]}')
    with pytest.raises(ValueError, match=r"copy\.json:train\[0\]: class 'not a leaf' is not a leaf"):
        read_split_json(str(out), image_dir, TOY)
    out.write_text('{"train": [["l0/missing.png", 0, "l0"]]}')
    with pytest.raises(FileNotFoundError, match=r"train\[0\]: image not found"):
        read_split_json(str(out), image_dir, TOY)
