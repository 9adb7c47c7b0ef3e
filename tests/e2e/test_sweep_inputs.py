"""hgclip-sweep reuses a finished run only when it was made on the inputs its command would run on now (the
listings of the dataset, the hierarchy, the CLIP weights, an evaluation's model files), as compare does: else
the sweep stops with one line per such run naming it and what changed."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import shutil

import pytest

from hgclip.cli import sweep

TINY = ["--", "MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2"]


def copied_root(hiershapes_root: str, folder: str) -> str:
    """A DATASET.ROOT of its own for HierShapes: its listing, hierarchy and meta copied, the images linked."""
    source, target = osp.join(hiershapes_root, "hiershapes"), osp.join(folder, "hiershapes")
    os.makedirs(target)
    for name in os.listdir(source):
        if osp.isdir(osp.join(source, name)):
            os.symlink(osp.join(source, name), osp.join(target, name))
        else:
            shutil.copy(osp.join(source, name), osp.join(target, name))
    return folder


def test_a_finished_run_made_on_other_images_is_not_reused(hiershapes_root, tmp_path, capsys):
    root = copied_root(hiershapes_root, str(tmp_path / "data"))
    command = ["--protocol", "all", "--datasets", "hiershapes", "--trainers", "ZeroshotCLIP", "--seeds", "1",
               "--root", root, "--output", str(tmp_path / "out"), *TINY]
    assert sweep.main(command) == 0
    assert sweep.main(command) == 0  # the same inputs: reused
    assert "1 job(s): 1 finished (skipped), 0 to run" in capsys.readouterr().out

    split = osp.join(root, "hiershapes", "split.json")
    with open(split, encoding="utf-8") as handle:
        listing = json.load(handle)
    first = listing["test"][0]
    other = next(item for item in listing["val"] if item[1] == first[1])
    listing["test"][0] = other  # one test image replaced by another of its class
    with open(split, "w", encoding="utf-8") as handle:
        json.dump(listing, handle)
    run_dir = osp.join(str(tmp_path / "out"), "compare", "hiershapes", "ZeroshotCLIP")
    with pytest.raises(SystemExit, match=r"\[ZeroshotCLIP seed 1\] finished run not reused: .*ZeroshotCLIP.*"
                                         r"inputs.json: this directory was run on other inputs: test_images changed "
                                         r".*delete that run or choose another OUTPUT") as error:
        sweep.main(command)
    assert "\n" not in str(error.value) and run_dir in str(error.value)
    assert "1 to run" not in capsys.readouterr().out  # nothing was submitted


def test_an_evaluation_of_another_checkpoint_is_not_reused(hiershapes_root, tmp_path, capsys):
    root = copied_root(hiershapes_root, str(tmp_path / "data"))
    output = str(tmp_path / "out")
    command = ["--protocol", "base2new", "--datasets", "hiershapes", "--trainers", "CoOp", "--seeds", "1",
               "--root", root, "--output", output, *TINY]
    assert sweep.main(command) == 0
    assert sweep.main(command) == 0
    assert "1 job(s): 1 finished (skipped), 0 to run" in capsys.readouterr().out

    (model_dir,) = glob.glob(osp.join(output, "base2new", "train_base", "hiershapes", "*", "CoOp", "*", "seed1",
                                      "prompt_learner"))
    checkpoints = [name for name in os.listdir(model_dir) if ".pth" in name]
    assert checkpoints, os.listdir(model_dir)
    for name in checkpoints:  # the training's model is another one now (as after a retraining in place)
        with open(osp.join(model_dir, name), "ab") as handle:
            handle.write(b"\0")
    with pytest.raises(SystemExit, match=r"\[seed 1 test on new\] finished run not reused: .*test_new.*"
                                         r"this directory evaluated another model: prompt_learner in .*train_base.* "
                                         r"changed since; delete that run or choose another OUTPUT"):
        sweep.main(command)
