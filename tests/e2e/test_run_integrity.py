"""Every output of a run belongs to that run (issue 18, items 1 and 5; storage errors).

* an evaluation-only run records the fingerprints of what it evaluated (hierarchy, test images, CLIP
  weights, the model files it loaded) and a re-run on other contents at the same paths is refused;
* a run that fails or is killed midway leaves no earlier evaluation's results.json beside its own files;
* a full disk or a read-only output directory ends in one line naming the file, and what was
  written before stays intact.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import uuid

import pytest
import torch
from run_helpers import check_ok, make_image_folder, metrics, results, run_train, run_train_killed_at, train_args

from hgclip.runtime.run_dir import read_verified, run_finished, write_checkpoint


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
    assert set(recorded) == {"hierarchy", "test_images", "backbone", "model"}
    assert set(recorded["model"]) == {"prompt_learner", "prototypes.pt"}
    assert metrics(results(out)) == metrics(results(baseline_run["dir"]))  # the trained model's numbers
    check_ok(run_train(args))  # the same model again: allowed
    first = _read(osp.join(out, "results.json"))

    learner = osp.join(model, "prompt_learner")  # "retrained": epoch 1's weights now under epoch 2's name
    write_checkpoint(read_verified(osp.join(learner, "model.pth.tar-1")), learner, "model.pth.tar-2")
    line = _one_error_line(run_train(args))
    assert "inputs.json: this directory was run on other inputs: model changed" in line, line
    assert _read(osp.join(out, "results.json")) == first

    check_ok(run_train(["--overwrite", *args]))  # start the evaluation afresh: the new model's record
    assert _inputs(out)["model"]["prompt_learner"] != recorded["model"]["prompt_learner"]
    assert metrics(results(out)) != metrics(results(baseline_run["dir"]))


def test_an_evaluation_into_its_training_directory_keeps_the_training_record(baseline_run, tmp_path):
    """base2new re-evaluates a finished seed into its own directory: the training's fingerprints stay, the
    model's are added."""
    model = str(tmp_path / "model")
    shutil.copytree(baseline_run["dir"], model)
    training = _inputs(model)
    check_ok(run_train(_evaluate(baseline_run["root"], model, model)))
    recorded = _inputs(model)
    assert {key: recorded[key] for key in training} == training and "model" in recorded
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


# ---------------------------------------------------------------------- item 5: crashed runs
def test_an_evaluation_that_fails_while_writing_leaves_no_earlier_results(baseline_run, tmp_path):
    """The earlier evaluation's outputs go before the new one starts, and results.json is written last: a failure
    after some outputs leaves this run's files and no results.json (not finished), never a mix of two runs."""
    out = str(tmp_path / "eval")
    args = _evaluate(baseline_run["root"], out, baseline_run["dir"], "TEST.COMPUTE_CMAT", "True",
                     "TEST.SAVE_PREDICTIONS", "True")
    check_ok(run_train(args))
    assert {"results.json", "confusions.json", "cmat.json", "predictions.jsonl"} <= set(os.listdir(out))
    stamp = {name: os.stat(osp.join(out, name)).st_mtime_ns for name in ("confusions.json", "cmat.json")}

    os.remove(osp.join(out, "predictions.jsonl"))
    os.makedirs(osp.join(out, "predictions.jsonl", "in-the-way"))  # the next write of it fails
    line = _one_error_line(run_train(args))
    assert "predictions.jsonl" in line, line
    assert not osp.exists(osp.join(out, "results.json")), "an earlier results.json presented as this run's"
    for name, before in stamp.items():  # what it wrote before failing is this run's
        assert os.stat(osp.join(out, name)).st_mtime_ns > before, name
    assert not any(name.startswith(".tmp-") for name in os.listdir(out))

    shutil.rmtree(osp.join(out, "predictions.jsonl"))
    check_ok(run_train(args))  # the same command again completes the evaluation
    assert metrics(results(out)) == metrics(results(baseline_run["dir"]))


def test_a_training_killed_beside_an_earlier_evaluation_is_not_finished(baseline_run, tmp_path):
    """A directory holding an evaluation's results.json, then a training of the same config killed after its
    first checkpoint: before, the old results.json and the new checkpoint made it look finished (base2new
    would have skipped its training)."""
    out = str(tmp_path / "run")
    check_ok(run_train(_evaluate(baseline_run["root"], out, baseline_run["dir"])))
    assert osp.isfile(osp.join(out, "results.json"))

    # killed once epoch 1 of 2 is done
    killed = run_train_killed_at(train_args(baseline_run["root"], out), r"Checkpoint saved to .*model\.pth\.tar-1$")
    assert killed == -signal.SIGKILL
    assert osp.isfile(osp.join(out, "prompt_learner", "model.pth.tar-1"))
    assert not osp.exists(osp.join(out, "results.json")) and not osp.exists(osp.join(out, "confusions.json"))
    assert not run_finished(out)


# ---------------------------------------------------------------------- storage errors
def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def mounted(tmp_path):
    """``mounted(size, read_only)``: a folder on its own file system (a tmpfs of ``size``, or a read-only bind
    mount of a folder); skipped where this process may not mount (not root, no CAP_SYS_ADMIN, no mount)."""
    points: list[str] = []

    def mount(*, size: str = "", read_only_of: str = "") -> str:
        point = str(tmp_path / f"mnt-{uuid.uuid4().hex[:8]}")
        os.makedirs(point)
        try:
            if read_only_of:
                _mount("--bind", read_only_of, point)
                points.append(point)
                _mount("-o", "remount,ro,bind", point)
            else:
                _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", point)
                points.append(point)
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            pytest.skip(f"cannot mount a file system here ({' '.join(detail.split())[:120]}); needs root or "
                        "CAP_SYS_ADMIN")
        return point

    yield mount
    for point in reversed(points):
        subprocess.run(["umount", "-l", point], capture_output=True)


def test_a_full_disk_ends_in_one_line_naming_the_file_and_keeps_what_was_written(baseline_run, tmp_path, mounted):
    """A tmpfs with room for one checkpoint: the second one does not fit."""
    size = os.path.getsize(osp.join(baseline_run["dir"], "prompt_learner", "model.pth.tar-1"))
    disk = mounted(size=str(size + 1024 * 1024))  # one checkpoint, the logs and the small files
    out = osp.join(disk, "run")
    line = _one_error_line(run_train(train_args(baseline_run["root"], out)))
    second = osp.join(out, "prompt_learner", "model.pth.tar-2")
    assert line == f"error: {second}: No space left on device", line

    learner = osp.join(out, "prompt_learner")
    assert sorted(os.listdir(learner)) == ["checkpoint", "checkpoints.sha256", "model.pth.tar-1"]  # no half file
    first = read_verified(osp.join(learner, "model.pth.tar-1"))  # complete: its digest matches
    expected = torch.load(osp.join(baseline_run["dir"], "prompt_learner", "model.pth.tar-1"), map_location="cpu",
                          weights_only=False)
    for key, value in expected["state_dict"].items():
        assert torch.equal(first["state_dict"][key], value), key
    assert _read(osp.join(learner, "checkpoint")).strip() == "model.pth.tar-1"
    assert set(_inputs(out)) == {"hierarchy", "training_images", "test_images", "backbone"}
    assert line in _read(osp.join(out, "log.txt"))  # the log has the line too (there was room for it)
    assert not osp.exists(osp.join(out, "results.json"))


def test_a_read_only_output_directory_ends_in_one_line_and_is_left_as_it_was(baseline_run, tmp_path, mounted):
    source = str(tmp_path / "finished")
    shutil.copytree(baseline_run["dir"], source)
    before = {name: _read(osp.join(source, name)) for name in ("results.json", "config.yaml", "inputs.json")}
    out = mounted(read_only_of=source)
    line = _one_error_line(run_train(_evaluate(baseline_run["root"], out, out)))
    assert line == f"error: {osp.join(out, 'run.lock')}: Read-only file system", line
    assert {name: _read(osp.join(out, name)) for name in before} == before
