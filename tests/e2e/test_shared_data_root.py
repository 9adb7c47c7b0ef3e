"""A data root shared with a MaPLe checkout stays intact: this project never writes MaPLe's few-shot file.

The mimic checkout's reader is written as MaPLe's (and CoOp's) OxfordPets reader is: it reads the
split JSON, then ``split_fewshot/shot_<K>-seed_<S>.pkl`` if it exists (``pickle.load``, then
``item.label`` on every Datum), else draws with ``random.sample`` and ``pickle.dump``s
``{"train": [...], "val": [...]}`` of Dassl ``Datum`` objects.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import pickle
import subprocess
import sys
import textwrap

from dataset_fixtures import write_coop_split
from run_helpers import REPO, run_train

from hgclip.datasets.coop_datasets import OxfordPets
from hgclip.datasets.fewshot import cache_path, coop_path

STAND_IN_DASSL = {  # only the Datum class MaPLe's reader pickles (the real Dassl is not needed for this)
    "dassl/__init__.py": "",
    "dassl/data/__init__.py": "",
    "dassl/data/datasets/__init__.py": "",
    "dassl/data/datasets/base_dataset.py": '''
        class Datum:
            def __init__(self, impath="", label=0, domain=0, classname=""):
                self._impath, self._label, self._domain, self._classname = impath, label, domain, classname

            @property
            def impath(self):
                return self._impath

            @property
            def label(self):
                return self._label
        ''',
}

MAPLE_READER = '''
    import json, os, pickle, random, sys
    from dassl.data.datasets.base_dataset import Datum

    dataset_dir, num_shots, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    image_dir = os.path.join(dataset_dir, "images")
    with open(os.path.join(dataset_dir, "split_zhou_OxfordPets.json")) as f:
        split = json.load(f)
    train = [Datum(os.path.join(image_dir, p), y, 0, c) for p, y, c in split["train"]]
    val = [Datum(os.path.join(image_dir, p), y, 0, c) for p, y, c in split["val"]]
    preprocessed = os.path.join(dataset_dir, "split_fewshot", f"shot_{num_shots}-seed_{seed}.pkl")
    if os.path.exists(preprocessed):
        with open(preprocessed, "rb") as file:
            data = pickle.load(file)
            train, val = data["train"], data["val"]
        print("MAPLE loaded", len(train), [item.label for item in train][:3])
    else:
        random.seed(seed)
        def fewshot(items, k):
            by_label = {}
            for item in items:
                by_label.setdefault(item.label, []).append(item)
            return [x for group in by_label.values() for x in random.sample(group, min(k, len(group)))]
        train, val = fewshot(train, num_shots), fewshot(val, min(num_shots, 4))
        os.makedirs(os.path.dirname(preprocessed), exist_ok=True)
        with open(preprocessed, "wb") as file:
            pickle.dump({"train": train, "val": val}, file, protocol=pickle.HIGHEST_PROTOCOL)
        print("MAPLE wrote", len(train))
'''


def make_checkout(folder) -> str:
    for relpath, text in {**STAND_IN_DASSL, "read_fewshot.py": MAPLE_READER}.items():
        path = osp.join(str(folder), relpath)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(textwrap.dedent(text))
    return str(folder)


def run_maple(checkout: str, dataset_dir: str) -> str:
    env = {**os.environ, "PYTHONPATH": checkout}
    result = subprocess.run([sys.executable, osp.join(checkout, "read_fewshot.py"), dataset_dir, "1", "1"],
                            cwd=checkout, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def run_ours(root: str, output_dir: str) -> str:
    command = ["--root", root, "--seed", "1", "--trainer", "ZeroshotCLIP",
               "--eval-only", "--output-dir", output_dir,
               "--dataset-config-file", osp.join(REPO, "configs", "datasets", "oxford_pets.yaml"),
               "--config-file", osp.join(REPO, "configs", "trainers", "ZeroshotCLIP", "tiny.yaml"),
               "MODEL.BACKBONE.NAME", "tiny-random", "DATASET.NUM_SHOTS", "1"]
    result = run_train(command, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert osp.isfile(osp.join(output_dir, "results.json"))
    return result.stdout


def test_maple_keeps_working_on_a_data_root_this_project_used(tmp_path):
    root = str(tmp_path / "data")
    dataset_dir = write_coop_split(root, OxfordPets, per_split={"train": 3, "val": 1, "test": 1})
    checkout = make_checkout(tmp_path / "maple")
    maples = coop_path(dataset_dir, 1, 1)

    run_ours(root, str(tmp_path / "ours1"))  # this project first: it writes only its own file
    assert not osp.exists(maples) and osp.isfile(cache_path(dataset_dir, 1, 1))
    assert "MAPLE wrote" in run_maple(checkout, dataset_dir)  # MaPLe draws and writes its own, as always

    written = open(maples, "rb").read()
    stdout = run_ours(root, str(tmp_path / "ours2"))  # this project again: it reads MaPLe's draw, leaves the file
    assert "the draw CoOp/MaPLe made" in stdout
    assert open(maples, "rb").read() == written
    assert "MAPLE loaded" in run_maple(checkout, dataset_dir)  # and MaPLe still loads it


def test_a_file_an_earlier_version_wrote_under_maples_name_is_moved_away(tmp_path):
    """The earlier version of this project wrote its own format at MaPLe's path; MaPLe then crashed on item.label."""
    root = str(tmp_path / "data")
    dataset_dir = write_coop_split(root, OxfordPets, per_split={"train": 3, "val": 1, "test": 1})
    checkout = make_checkout(tmp_path / "maple")
    run_ours(root, str(tmp_path / "ours1"))
    with open(cache_path(dataset_dir, 1, 1), encoding="utf-8") as handle:
        content = json.load(handle)
    os.remove(cache_path(dataset_dir, 1, 1))
    with open(coop_path(dataset_dir, 1, 1), "wb") as handle:
        pickle.dump({**content, "version": 1}, handle, protocol=4)  # the earlier version's file

    assert "earlier version" in run_ours(root, str(tmp_path / "ours2"))
    assert not osp.exists(coop_path(dataset_dir, 1, 1))
    assert "MAPLE wrote" in run_maple(checkout, dataset_dir)
