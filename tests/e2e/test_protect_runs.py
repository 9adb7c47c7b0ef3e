"""ProTeCt's losses through train.py: they change training, two gloo processes equal one, and a killed run
resumes to the uninterrupted one's numbers (the step's tree cut is a function of seed, epoch and step)."""
from __future__ import annotations

import os.path as osp
import re
import signal

import pytest
import torch
from run_helpers import check_ok, metrics, results, run_train, run_train_killed_at, train_args

PROTECT = ("LOSS.PROTECT.NODE_WEIGHT", "0.5", "LOSS.PROTECT.TREECUT_WEIGHT", "1.0", "LOSS.PROTECT.DROP_RATE", "0.5")


def _learner(run_dir: str, epoch: int = 2) -> dict:
    path = osp.join(run_dir, "prompt_learner", f"model.pth.tar-{epoch}")
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def protect_run(odd_dataset_root, tmp_path_factory) -> dict:
    out = str(tmp_path_factory.mktemp("protect") / "run")
    stdout = check_ok(run_train(train_args(odd_dataset_root, out, *PROTECT)))
    return {"dir": out, "stdout": stdout, "root": odd_dataset_root}


def test_the_losses_are_logged_recorded_and_change_training(protect_run, baseline_run):
    log = open(osp.join(protect_run["dir"], "log.txt"), encoding="utf-8").read()
    assert re.search(r"epoch \[1/2\] batch \[1/8\] .* loss \d+\.\d+ .* ncl \d+\.\d+ .* dtl \d+\.\d+ ", log)
    config = open(osp.join(protect_run["dir"], "config.yaml"), encoding="utf-8").read()
    assert "NODE_WEIGHT: 0.5" in config and "TREECUT_WEIGHT: 1.0" in config
    with_loss, without = _learner(protect_run["dir"]), _learner(baseline_run["dir"])
    assert any(not torch.equal(with_loss[k], without[k]) for k in without)


def test_two_gloo_processes_with_the_losses_equal_one_process(protect_run, tmp_path):
    out = str(tmp_path / "ddp")
    check_ok(run_train(train_args(protect_run["root"], out, *PROTECT), nproc=2))
    one, two = metrics(results(protect_run["dir"])), metrics(results(out))
    for key in one:
        assert two[key] == pytest.approx(one[key], abs=1e-4), key
    single, ddp = _learner(protect_run["dir"]), _learner(out)
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], atol=1e-4, rtol=0)


def test_killed_and_rerun_with_the_losses_equals_the_uninterrupted_run(protect_run, tmp_path):
    out = str(tmp_path / "killed")
    args = train_args(protect_run["root"], out, *PROTECT, "TRAIN.CHECKPOINT_FREQ_ITERS", "1")
    # killed mid-epoch 2, after 3 of its 8 steps (3 cuts drawn)
    assert run_train_killed_at(args, r"Checkpoint saved to .*model\.pth\.tar-2-iter3$") == -signal.SIGKILL
    stdout = check_ok(run_train(args))
    assert "Resuming from" in stdout and "epoch [1/2]" not in stdout
    assert metrics(results(out)) == metrics(results(protect_run["dir"]))
    final, expected = _learner(out), _learner(protect_run["dir"])
    for key in expected:
        assert torch.equal(final[key], expected[key]), key
