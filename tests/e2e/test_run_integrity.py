"""Every output of a run belongs to that run (issue 18, item 1).

* an evaluation-only run records the fingerprints of what it evaluated (hierarchy, test images, CLIP
  weights, the model files it loaded) and a re-run on other contents at the same paths is refused;
"""
from __future__ import annotations

import json
import os.path as osp
import shutil
import subprocess

from run_helpers import check_ok, make_image_folder, metrics, results, run_train, train_args

from hgclip.engine.run_dir import read_verified, write_checkpoint


def _inputs(run_dir: str) -> dict:
    with open(osp.join(run_dir, "inputs.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return errors[0]


def _evaluate(root: str, out: str, model_dir: str, *opts: str) -> list[str]:
    return ["--eval-only", "--model-dir", model_dir, *train_args(root, out, *opts)]  # flags before the KEY VALUE pairs


# ---------------------------------------------------------------------- item 1: evaluation-only runs
def test_an_evaluation_of_a_model_retrained_at_the_same_path_is_refused(baseline_run, tmp_path):
    """The model directory's checkpoint replaced by another model (same file name): re-running the evaluation
    would replace results.json with another model's numbers under the same recorded config."""
    model = str(tmp_path / "model")
    shutil.copytree(baseline_run["dir"], model)
    out = str(tmp_path / "eval")
    args = _evaluate(baseline_run["root"], out, model)
    check_ok(run_train(args))
    recorded = _inputs(out)
    assert set(recorded) == {"hierarchy", "test_images", "backbone", "checkpoint"}
    assert set(recorded["checkpoint"]) == {"prompt_learner", "prototypes.pt"}
    assert metrics(results(out)) == metrics(results(baseline_run["dir"]))  # the trained model's numbers
    check_ok(run_train(args))  # the same model again: allowed
    first = _read(osp.join(out, "results.json"))

    learner = osp.join(model, "prompt_learner")  # "retrained": epoch 1's weights now under epoch 2's name
    write_checkpoint(read_verified(osp.join(learner, "model.pth.tar-1")), learner, "model.pth.tar-2")
    line = _one_error_line(run_train(args))
    assert "inputs.json: this directory was run on other inputs: checkpoint changed" in line, line
    assert _read(osp.join(out, "results.json")) == first

    check_ok(run_train(["--overwrite", *args]))  # start the evaluation afresh: the new model's record
    assert _inputs(out)["checkpoint"]["prompt_learner"] != recorded["checkpoint"]["prompt_learner"]
    assert metrics(results(out)) != metrics(results(baseline_run["dir"]))


def test_an_evaluation_into_its_training_directory_keeps_the_training_record(baseline_run, tmp_path):
    """base2new re-evaluates a finished seed into its own directory: the training's fingerprints stay, the
    checkpoint is added."""
    model = str(tmp_path / "model")
    shutil.copytree(baseline_run["dir"], model)
    training = _inputs(model)
    check_ok(run_train(_evaluate(baseline_run["root"], model, model)))
    recorded = _inputs(model)
    assert {key: recorded[key] for key in training} == training and "checkpoint" in recorded
    assert metrics(results(model)) == metrics(results(baseline_run["dir"]))


def test_a_zero_shot_evaluation_whose_hierarchy_changed_at_the_same_path_is_refused(hiershapes_root, tmp_path):
    """ZeroshotCLIP has no parameters: its numbers depend on the hierarchy, the test images and the CLIP weights."""
    root = str(tmp_path / "data")
    folder = make_image_folder(hiershapes_root, root)
    out = str(tmp_path / "zs")
    args = ["--eval-only", *train_args(root, out, trainer="ZeroshotCLIP")]
    check_ok(run_train(args))
    assert set(_inputs(out)) == {"hierarchy", "test_images", "backbone"}
    first = _read(osp.join(out, "results.json"))

    hierarchy = osp.join(folder, "hierarchy.txt")
    text = _read(hierarchy)
    with open(hierarchy, "w", encoding="utf-8") as handle:  # one shape moved to another family
        handle.write(text.replace("angular > triangle", "round > triangle"))
    line = _one_error_line(run_train(args))
    assert "inputs.json: this directory was run on other inputs: hierarchy changed" in line, line
    assert _read(osp.join(out, "results.json")) == first
