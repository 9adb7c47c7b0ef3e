"""A run on a config-only dataset whose tree has leaves at depths 2, 3 and 4 (issue 25): HGCLIP with
ProTeCt's losses, MaPLe, and ZeroshotCLIP with CHiLS, each through train.py (in this process, on a random
tiny CLIP, 1 epoch), each writing results.json and report.html."""
from __future__ import annotations

import json
import os.path as osp

import pytest
from dataset_fixtures import put_image
from run_helpers import REPO

from hgclip.cli import train

# leaves: a1 (depth 2), x (3), y1 (4; y has one child), z (3; b1 has one child), b2 (2)
HIERARCHY = "levels: any\nanimal > a1\nanimal > a2 > x\nanimal > a2 > y > y1\nplant > b1 > z\nplant > b2\n"
LEAVES = ("a1", "x", "y1", "z", "b2")
LEVELS = ["depth1", "depth2", "depth3", "depth4"]


def write_dataset(root: str) -> str:
    with open(osp.join(root, "tree.txt"), "w") as handle:
        handle.write(HIERARCHY)
    for split, count in {"train": 2, "val": 1, "test": 2}.items():
        for name in LEAVES:
            for i in range(count):
                put_image(osp.join(root, "ragged", split, name, f"{i}.png"))
    path = osp.join(root, "ragged.yaml")
    with open(path, "w") as handle:
        handle.write('DATASET:\n  NAME: "HierConfigDataset"\n  DISPLAY_NAME: "Ragged"\n'
                     '  HIERCONFIG:\n    IMAGE_ROOT: "ragged"\n    HIERARCHY: "tree.txt"\n')
    return path


def run(root: str, output: str, trainer: str, config: str, *opts: str, eval_only: bool = False) -> dict:
    train.main(["--root", root, "--seed", "1", "--trainer", trainer, "--output-dir", output,
                "--dataset-config-file", write_dataset(root), "--config-file", config,
                *(["--eval-only"] if eval_only else []),
                "MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2",
                "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "TEST.HTML_REPORT", "True", "TEST.SAVE_PREDICTIONS", "True",
                *opts])
    assert osp.isfile(osp.join(output, "report.html"))
    with open(osp.join(output, "results.json")) as handle:
        return json.load(handle)


def tiny(trainer: str) -> str:
    return osp.join(REPO, "configs", "trainers", trainer, "tiny_hiershapes.yaml")


@pytest.mark.parametrize("trainer, opts", [
    ("HGCLIP", ("LOSS.PROTECT.NODE_WEIGHT", "0.5", "LOSS.PROTECT.TREECUT_WEIGHT", "1.0", "LOSS.PROTECT.DROP_RATE", "0.1")),
    ("MaPLe", ()),
    ("PromptSRC", ()),  # its KL to the frozen CLIP is taken per depth
    ("KgCoOp", ("TRAINER.KGCOOP.LEVEL_WEIGHTS", "[1.0, 1.0, 1.0, 0.0]")),  # one weight per depth
])
def test_trainers_train_and_evaluate_on_a_ragged_tree(tmp_path, trainer, opts):
    results = run(str(tmp_path), str(tmp_path / "out"), trainer, tiny(trainer), *opts)
    assert results["levels"] == LEVELS and results["num_samples"] == 10
    assert set(results["per_level"]) == set(LEVELS)


def test_zero_shot_chils_on_a_ragged_tree(tmp_path):
    config = osp.join(REPO, "configs", "trainers", "ZeroshotCLIP", "tiny.yaml")
    results = run(str(tmp_path), str(tmp_path / "out"), "ZeroshotCLIP", config, "TEST.DECODING", "chils",
                  eval_only=True)
    assert results["decoding"] == "chils" and results["levels"] == LEVELS
    lines = (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 10 and all("leaf" in json.loads(line) for line in lines)


def test_level_weights_take_one_value_per_depth(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run(str(tmp_path), str(tmp_path / "out"), "KgCoOp", tiny("KgCoOp"), "TRAINER.KGCOOP.LEVEL_WEIGHTS", "[1.0, 1.0, 1.0]")
    assert "LEVEL_WEIGHTS has 3 values but the hierarchy has 4 levels (depth1 > depth2 > depth3 > depth4)" in (
        capsys.readouterr().err)
