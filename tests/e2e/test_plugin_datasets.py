"""The plugin route on every CoOp dataset and ImageNet variant: a checkout's own flat dataset gets the tree this
project ships for its DATASET.NAME, with the same aliases and shared-name rule as this project's readers.

The checkout is test_plugin.py's mimic (MaPLe-style train.py with the two plugin lines, vendored clip/, a
stand-in dassl when the real one is absent; its own trainers left out) with CoOp-like dataset readers
(tests/mimic_checkout.py) and CoOp's dataset configs, on tiny images in the real layouts: Flowers' class 78
spelled "lotus", FGVC-Aircraft's "707-320" as variants.txt writes it, ImageNet classes that share the
name "missile" (three in ImageNet, one of them in ImageNet-R). Each run: --trainer HGCLIP, the tiny
random CLIP, 1 epoch; results.json must have the levels of the tree this project has for the dataset.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from mimic_checkout import checkout_files, write_checkout_data
from run_helpers import REPO
from test_plugin import CHECKOUT_FILES, REAL_DASSL, STANDIN_DASSL

#: DATASET.NAME -> (the checkout's dataset config, the levels of the tree this project ships for it)
EXPECTED = {
    "OxfordPets": ("oxford_pets.yaml", ["species", "breed"]),
    "OxfordFlowers": ("oxford_flowers.yaml", ["family", "flower"]),
    "FGVCAircraft": ("fgvc_aircraft.yaml", ["manufacturer", "family", "variant"]),
    "DescribableTextures": ("dtd.yaml", None),
    "EuroSAT": ("eurosat.yaml", None),
    "StanfordCars": ("stanford_cars.yaml", None),
    "Food101": ("food101.yaml", None),
    "SUN397": ("sun397.yaml", None),
    "Caltech101": ("caltech101.yaml", None),
    "UCF101": ("ucf101.yaml", None),
    "ImageNet": ("imagenet.yaml", ["parent", "class"]),
    "ImageNetV2": ("imagenetv2.yaml", ["parent", "class"]),
    "ImageNetSketch": ("imagenet_sketch.yaml", ["parent", "class"]),
    "ImageNetA": ("imagenet_a.yaml", ["parent", "class"]),
    "ImageNetR": ("imagenet_r.yaml", ["parent", "class"]),
}
#: run by default (the rest is marked slow): an alias (Flowers), a tree derived from the annotations (FGVC), a
#: class list with a shared name (ImageNet-R's "missile"); tests/unit/test_datasets_attach.py covers the rules in-process
DEFAULT = ("OxfordFlowers", "FGVCAircraft", "ImageNetR")
FAST = ("MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1", "OPTIM.WARMUP_EPOCH", "0",
        "TRAIN.PRINT_FREQ", "1000", "DATALOADER.TRAIN_X.BATCH_SIZE", "32", "DATALOADER.TEST.BATCH_SIZE", "256")


def shipped_levels(name: str) -> list[str]:
    """The levels of the hierarchy file this project ships for a CoOp split dataset."""
    from hgclip.datasets.base import resolve_hierarchy_file
    from hgclip.hierarchy import load_hierarchy
    from hgclip.runtime.dassl_api import DATASET_REGISTRY

    return list(load_hierarchy(resolve_hierarchy_file(DATASET_REGISTRY.get(f"Hier{name}").hierarchy_file)).level_names)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The mimic checkout (its train.py imports the CoOp-like readers) and its data root."""
    root = tmp_path_factory.mktemp("checkout")
    files = {path: text for path, text in CHECKOUT_FILES.items() if not path.startswith(("trainers/", "datasets/"))}
    train_py, count = re.subn(r"import datasets\.toy[^\n]*", "import datasets.coop_readers  # noqa: F401",
                              files["train.py"])
    files["train.py"] = re.sub(r"\n *import trainers\.coop[^\n]*", "", train_py)  # its own trainers are not needed
    assert count == 1, "test_plugin.py's checkout train.py no longer imports datasets.toy"
    if not REAL_DASSL:
        files.update(STANDIN_DASSL)
    files["datasets/__init__.py"] = ""
    files.update(checkout_files())
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    counts = write_checkout_data(root / "data")
    return root, counts


def run_checkout(checkout_dir, *args: str) -> subprocess.CompletedProcess:
    """``python train.py args`` in the checkout, with this worktree's hgclip (PYTHONPATH kept)."""
    env = {k: v for k, v in os.environ.items() if k != "HGCLIP_ENGINE"}
    env.update(HGCLIP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "train.py", *args], cwd=checkout_dir, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("name", [pytest.param(name, marks=() if name in DEFAULT else pytest.mark.slow)
                                  for name in EXPECTED])
def test_a_checkout_dataset_runs_with_the_tree_shipped_for_its_name(checkout, name, tmp_path):
    checkout_dir, counts = checkout
    config, levels = EXPECTED[name]
    levels = levels or shipped_levels(name)
    out = tmp_path / "run"
    result = run_checkout(checkout_dir, "--root", str(checkout_dir / "data"), "--seed", "1", "--trainer", "HGCLIP",
                          "--output-dir", str(out), "--dataset-config-file", f"configs/datasets/{config}",
                          "--config-file", os.path.join(REPO, "configs", "trainers", "HGCLIP", "tiny_hiershapes.yaml"),
                          *FAST)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{name}: hierarchy of this project's" in result.stdout and "flat level" not in result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["levels"] == levels
    assert results["per_level"][levels[-1]]["num_classes"] == counts[name]
