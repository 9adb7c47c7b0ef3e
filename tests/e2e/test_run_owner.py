"""One owner of the run directory on every route (issue "one product on every route", item 7).

Each case failed before the trainer owned its directory (hgclip.engine.run_directory): an evaluation never
compared the model's recorded config, ``--eval-only --overwrite`` left results of other settings in a
training directory, and a resume compared no inputs when it came from another directory or from one
without ``inputs.json``.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import subprocess

import pytest
import torch
from run_helpers import check_ok, make_image_folder, metrics, results, run_train, train_args

from hgclip.runtime.run_dir import read_verified, write_checkpoint


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # beside progress bars
    assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return errors[0]


def _evaluate(root: str, out: str, model_dir: str, *opts: str, flags: tuple = ()) -> list[str]:
    return ["--eval-only", *flags, "--model-dir", model_dir, *train_args(root, out, *opts)]


@pytest.mark.parametrize("key, value, recorded", [
    ("TRAINER.HGCLIP.ATTENTION.ALPHA", "0.5", "0.01"),
    ("TRAINER.HGCLIP.TEXT_GNN.RESIDUAL", "False", "True"),
])
def test_an_evaluation_with_other_method_keys_than_the_models_is_refused(baseline_run, tmp_path, key, value, recorded):
    """Before: exit 0 and the numbers of another model built around the loaded weights."""
    out = str(tmp_path / "eval")
    line = _one_error_line(run_train(_evaluate(baseline_run["root"], out, baseline_run["dir"], key, value)))
    assert f"config.yaml: the model was trained with {key} {recorded}, this evaluation sets {value}" in line, line
    assert not osp.exists(osp.join(out, "results.json"))


def test_an_evaluation_reports_the_models_shots_and_seed_not_the_commands(baseline_run, tmp_path):
    """Before: ``DATASET.NUM_SHOTS 16`` on the eval command reported a 2-shot model as 16 shots."""
    out = str(tmp_path / "eval")
    check_ok(run_train(_evaluate(baseline_run["root"], out, baseline_run["dir"], "DATASET.NUM_SHOTS", "16")))
    trained, evaluated = results(baseline_run["dir"]), results(out)
    assert evaluated["num_shots"] == 2 and evaluated["seed"] == 1 and evaluated["trained_on_classes"] == "all"
    assert evaluated["num_shots_used"] == trained["num_shots_used"]
    assert metrics(evaluated) == metrics(trained)  # evaluation-side keys stay free; the model is the same


def test_an_evaluation_into_its_training_directory_uses_the_trainings_settings_even_with_overwrite(baseline_run,
                                                                                                    tmp_path):
    """Before: ``--eval-only --overwrite`` into the training directory with another ALPHA wrote that setting's
    results beside the training's config.yaml."""
    model = str(tmp_path / "model")
    shutil.copytree(baseline_run["dir"], model)
    before = {name: _read(osp.join(model, name)) for name in ("results.json", "config.yaml", "inputs.json")}
    for opts in (("TRAINER.HGCLIP.ATTENTION.ALPHA", "0.5"), ("TEST.DECODING", "top_down")):
        line = _one_error_line(run_train(_evaluate(baseline_run["root"], model, model, *opts, flags=("--overwrite",))))
        assert opts[0] in line and ("the model was trained with" in line or "uses the training's settings" in line), line
        assert {name: _read(osp.join(model, name)) for name in before} == before
    other = str(tmp_path / "other")  # another model evaluated into this training's directory
    shutil.copytree(baseline_run["dir"], other)
    line = _one_error_line(run_train(_evaluate(baseline_run["root"], model, other, flags=("--overwrite",))))
    assert "holds a training run: an evaluation into it evaluates its own model" in line, line
    check_ok(run_train(_evaluate(baseline_run["root"], model, model, flags=("--overwrite",))))  # its own settings
    assert metrics(results(model)) == metrics(results(baseline_run["dir"]))
    assert _read(osp.join(model, "config.yaml")) == before["config.yaml"]


def _edit_hierarchy(folder: str) -> None:
    path = osp.join(folder, "hierarchy.txt")
    text = _read(path)
    with open(path, "w", encoding="utf-8") as handle:  # one shape moved to another family
        handle.write(text.replace("angular > triangle", "round > triangle"))


def test_every_resume_compares_the_inputs(hiershapes_root, tmp_path):
    """Before: ``--resume DIR`` into a new directory, or a directory whose inputs.json is gone, trained on over
    an edited hierarchy."""
    root = str(tmp_path / "data")
    folder = make_image_folder(hiershapes_root, root)
    half = str(tmp_path / "half")
    check_ok(run_train(train_args(root, half, "OPTIM.MAX_EPOCH", "1", "TEST.NO_TEST", "True")))
    _edit_hierarchy(folder)

    resumed = str(tmp_path / "resumed")
    args = train_args(root, resumed, "OPTIM.MAX_EPOCH", "1", "TEST.NO_TEST", "True")
    line = _one_error_line(run_train(args[:2] + ["--resume", half] + args[2:]))
    assert "half/inputs.json: --resume continues a run made on other inputs: hierarchy changed" in line, line

    os.remove(osp.join(half, "inputs.json"))  # the checkpoint keeps its own record
    line = _one_error_line(run_train(train_args(root, half, "OPTIM.MAX_EPOCH", "1", "TEST.NO_TEST", "True")))
    assert "model.pth.tar-1: this checkpoint was trained on other inputs: hierarchy changed" in line, line

    learner = osp.join(half, "prompt_learner")  # an older checkpoint: no record anywhere, nothing to compare
    checkpoint = read_verified(osp.join(learner, "model.pth.tar-1"))
    del checkpoint["inputs"]
    write_checkpoint(checkpoint, learner, "model.pth.tar-1")
    stdout = check_ok(run_train(train_args(root, half, "OPTIM.MAX_EPOCH", "1", "TEST.NO_TEST", "True")))
    assert "hold no record of their inputs (no inputs.json; an older run): nothing to compare" in stdout
    assert osp.isfile(osp.join(half, "inputs.json"))
    assert torch.load(osp.join(learner, "model.pth.tar-1"), weights_only=False).get("inputs") is None  # not retrained


def test_the_python_api_gets_the_same_lock_and_a_training_tests_inside_its_own(baseline_run, tmp_path):
    """``build_trainer(cfg)`` + ``train()``: the lock is held while training (its own test() does not wait on it)
    and released at the end, also when the run fails."""
    from hgclip.cli.train import build_parser, setup_cfg
    from hgclip.runtime.dassl_api import build_trainer
    from hgclip.runtime.run_dir import LOCK_FILE, RunDirError, RunLock

    out = str(tmp_path / "api")
    cfg = setup_cfg(build_parser().parse_args(train_args(baseline_run["root"], out, "OPTIM.MAX_EPOCH", "1")))
    trainer = build_trainer(cfg)
    seen = []
    original = trainer.after_train

    def after_train() -> None:
        seen.append(osp.exists(osp.join(out, LOCK_FILE)))
        original()

    trainer.after_train = after_train
    trainer.train()
    assert seen == [True] and not osp.exists(osp.join(out, LOCK_FILE)) and osp.isfile(osp.join(out, "results.json"))
    held = RunLock(out).acquire()
    try:
        with pytest.raises(RunDirError, match="is in use by process"):
            trainer.test()
    finally:
        held.release()
    first = json.loads(_read(osp.join(out, "results.json")))
    trainer.test()  # the directory's own model, evaluated again into it
    assert metrics(json.loads(_read(osp.join(out, "results.json")))) == metrics(first)
