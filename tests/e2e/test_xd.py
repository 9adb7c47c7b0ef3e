"""Cross-dataset transfer and domain generalisation (cli/xd.py, scripts/xd.sh train|test|dg) on fixture trees.

The fixture is ImageNet and its four shifted test sets in CoOp's layout, with the WordNet files
(tests/dataset_fixtures.py). HGCLIP's prototypes in these runs are the source model's: a target's
images are only ever read to be classified.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import subprocess

import pytest
from dataset_fixtures import write_imagenet_family
from run_helpers import REPO

TINY = osp.join(REPO, "configs", "trainers", "HGCLIP", "tiny_hiershapes.yaml")
FAST = ["MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1", "TRAIN.PRINT_FREQ", "1000",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "64", "DATASET.CHECK_IMAGES", "exists"]


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("imagenet_family")
    write_imagenet_family(root, per_class=1)
    return str(root)


@pytest.fixture(scope="module")
def dg_run(imagenet_root, tmp_path_factory):
    output = tmp_path_factory.mktemp("dg_output")
    env = dict(os.environ, DATA=imagenet_root, OUTPUT=str(output), SHOTS="1", CFG="tiny", HGCLIP_NUM_THREADS="1")
    result = subprocess.run(["bash", "scripts/xd.sh", "HGCLIP", "dg", "1", "--", *FAST], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout, output


def test_xd_sh_dg_trains_on_imagenet_and_reports_every_target(dg_run):
    stdout, output = dg_run
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("summary: ")
    summary = json.loads(open(last[len("summary: "):]).read())
    assert summary["source"] == "imagenet" and summary["targets"] == ["imagenetv2", "imagenet_sketch", "imagenet_a",
                                                                       "imagenet_r"]
    levels = summary["levels"]
    assert len(levels) == 2  # DATASET.WORDNET.LEVELS 2: the class and its first-listed WordNet parent
    for level in levels:
        expected = sum(summary["per_dataset"][t][level] for t in summary["targets"]) / 4
        assert summary["mean_over_targets"][level] == pytest.approx(expected)
    assert "| imagenet (source)" in stdout and "| mean over targets" in stdout
    results = {t: json.loads(open(osp.join(output, "xd", "test", t, "shots_1", "HGCLIP", "tiny_hiershapes", "seed1",
                                           "results.json")).read()) for t in summary["targets"]}
    assert results["imagenet_a"]["per_level"][levels[-1]]["num_classes"] == 200  # A and R: their 200 classes
    assert results["imagenet_r"]["per_level"][levels[-1]]["num_classes"] == 200
    assert results["imagenetv2"]["per_level"][levels[-1]]["num_classes"] > 200


def test_no_target_image_is_read_to_build_prototypes(dg_run, imagenet_root, tmp_path, monkeypatch):
    """The target's prototypes are the source model's (prototypes.pt), mapped by name; no image is loaded for them."""
    from hgclip.cli import train
    from hgclip.datasets import prototypes
    from hgclip.runtime.dassl_api import build_trainer

    _, output = dg_run
    model_dir = osp.join(output, "xd", "train", "imagenet", "shots_1", "HGCLIP", "tiny_hiershapes", "seed1")
    assert osp.isfile(osp.join(model_dir, "prototypes.pt"))
    read: list[str] = []
    original = prototypes._ImageItems.__getitem__
    monkeypatch.setattr(prototypes._ImageItems, "__getitem__", lambda self, i: read.append(self.items[i].impath)
                        or original(self, i))
    args = train.build_parser().parse_args([
        "--root", imagenet_root, "--seed", "1", "--trainer", "HGCLIP", "--output-dir", str(tmp_path / "a"),
        "--dataset-config-file", osp.join(REPO, "configs", "datasets", "imagenet_a.yaml"), "--config-file", TINY,
        "--eval-only", *FAST])
    trainer = build_trainer(train.setup_cfg(args))
    trainer.load_model(model_dir)
    trainer.test()
    assert read == [], f"{len(read)} images were read to build prototypes, e.g. {read[:2]}"
    assert trainer.model.has_prototypes and int((trainer.node_prototypes.counts > 0).sum()) > 0

    fresh = build_trainer(train.setup_cfg(args))  # no trained model: refuse instead of using the test images
    with pytest.raises(ValueError, match="ImageNetA is an evaluation-only dataset: HGCLIP never builds prototypes"):
        fresh.test()
    assert read == []


def test_xd_script_takes_coops_arguments(dg_run, imagenet_root):
    """xd.sh TRAINER test DATASET SEED re-uses the trained source model; xd.sh TRAINER train SEED skips a finished one."""
    _, output = dg_run
    env = dict(os.environ, DATA=imagenet_root, OUTPUT=str(output), SHOTS="1", CFG=TINY, HGCLIP_NUM_THREADS="1")
    result = subprocess.run(["bash", "scripts/xd.sh", "HGCLIP", "test", "imagenet_sketch", "1", "--", *FAST], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    again = subprocess.run(["bash", "scripts/xd.sh", "HGCLIP", "train", "1", "--", *FAST], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "finished run found" in again.stdout
