"""Exact resume: a run killed mid-epoch and re-run gives the uninterrupted run's numbers; a bad newest
checkpoint is reported and skipped; the checkpoint holds every piece of state (and a trainer's own)."""
from __future__ import annotations

import os
import os.path as osp
import re
import shutil
import signal

import pytest
import torch
from run_helpers import check_ok, metrics, results, run_train, run_train_killed_at, train_args

from hgclip.runtime.run_dir import (
    CheckpointError,
    list_resume_points,
    parse_resume_point,
    prune_resume_points,
    read_verified,
    resume_point_name,
    write_checkpoint,
)


def _final_learner(run_dir: str) -> dict:
    return torch.load(osp.join(run_dir, "prompt_learner", "model.pth.tar-2"), map_location="cpu",
                      weights_only=False)["state_dict"]


def _same_run(run_dir: str, baseline_dir: str) -> None:
    assert metrics(results(run_dir)) == metrics(results(baseline_dir))
    final, expected = _final_learner(run_dir), _final_learner(baseline_dir)
    assert final.keys() == expected.keys()
    for key in expected:
        assert torch.equal(final[key], expected[key]), key


def test_sigkill_mid_epoch_then_rerun_equals_an_uninterrupted_run(baseline_run, tmp_path):
    out = str(tmp_path / "killed")
    args = train_args(baseline_run["root"], out, "TRAIN.CHECKPOINT_FREQ_ITERS", "1")
    # killed mid-epoch 2: 3 of its 8 iterations done
    assert run_train_killed_at(args, r"Checkpoint saved to .*model\.pth\.tar-2-iter3$") == -signal.SIGKILL
    assert not osp.exists(osp.join(out, "results.json")), "the run was not interrupted"
    assert osp.exists(osp.join(out, "run.lock")), "a killed run leaves its lock behind"

    stdout = check_ok(run_train(args))  # the same command again
    assert "Taking over the stale lock" in stdout
    resumed = re.search(r"Resuming from .*model\.pth\.tar-2-iter(\d+): 1 epoch\(s\) and (\d+) iteration\(s\) done",
                        stdout)
    assert resumed and int(resumed.group(1)) >= 3, stdout[-2000:]
    assert "epoch [1/2]" not in stdout, "epoch 1 was trained again"
    _same_run(out, baseline_run["dir"])
    assert not osp.exists(osp.join(out, "run.lock"))


def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(baseline_run, tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(baseline_run["dir"], out)
    newest = osp.join(out, "prompt_learner", "model.pth.tar-2")
    with open(newest, "r+b") as handle:
        handle.truncate(os.path.getsize(newest) // 2)

    stdout = check_ok(run_train(train_args(baseline_run["root"], out)))
    skipped = [line for line in stdout.splitlines() if line.startswith("Skipping")]
    assert len(skipped) == 1 and "model.pth.tar-2: truncated or corrupt" in skipped[0], skipped
    assert re.search(r"Resuming from .*model\.pth\.tar-1: 1 epoch\(s\) and 0 iteration\(s\) done", stdout)
    assert "epoch [2/2]" in stdout and "epoch [1/2]" not in stdout
    _same_run(out, baseline_run["dir"])


# ---------------------------------------------------------------- the checkpoint files
def test_resume_point_names_order_and_parse():
    names = [resume_point_name(1), resume_point_name(1, 3), resume_point_name(2)]
    assert names == ["model.pth.tar-1", "model.pth.tar-2-iter3", "model.pth.tar-2"]
    points = [parse_resume_point(name) for name in reversed(names)]
    assert [p.filename for p in sorted(points)] == names
    assert parse_resume_point("model-best.pth.tar") is None and parse_resume_point("checkpoint") is None


def test_a_corrupt_file_is_caught_by_its_digest_and_pruning_keeps_the_two_newest(tmp_path):
    folder = str(tmp_path)
    for epochs, batches in [(1, 0), (1, 2), (2, 0), (2, 1)]:
        write_checkpoint({"state_dict": {"w": torch.ones(3) * epochs}, "epoch": epochs}, folder,
                         resume_point_name(epochs, batches))
    assert open(osp.join(folder, "checkpoint")).read().strip() == "model.pth.tar-3-iter1"
    path = osp.join(folder, "model.pth.tar-2")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the middle: same size, still a zip file
    open(path, "wb").write(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.pth\.tar-2: truncated or corrupt .*sha256"):
        read_verified(path)
    removed = prune_resume_points(folder, keep={"model.pth.tar-1"})
    assert removed == ["model.pth.tar-2-iter2"]
    assert [p.filename for p in list_resume_points(folder)] == ["model.pth.tar-1", "model.pth.tar-2",
                                                                "model.pth.tar-3-iter1"]
    assert "model.pth.tar-2-iter2" not in open(osp.join(folder, "checkpoints.sha256")).read()


def test_a_checkpoint_holds_everything_an_exact_resume_needs(hiershapes_root, tmp_path):
    from trainer_helpers import first_batch, make_trainer

    out = str(tmp_path / "out")
    trainer = make_trainer("PromptSRC", hiershapes_root, out, "OPTIM.MAX_EPOCH", "2")
    trainer.before_train()
    trainer.epoch, trainer.batch_idx, trainer.num_batches = 0, 0, 10**6
    trainer.set_model_mode("train")
    trainer.forward_backward(first_batch(trainer))
    trainer.after_epoch()  # GPA update, then the epoch-end checkpoint
    saved = torch.load(osp.join(out, "prompt_learner", "model.pth.tar-1"), weights_only=False)
    assert saved["trainer"] == "PromptSRC" and saved["epoch"] == 1 and saved["batch"] == 0
    assert saved["optimizer"]["state"], "SGD momentum buffers"
    run_state = saved["run_state"]
    assert set(run_state["rng"][0]) >= {"python", "numpy", "torch"}
    assert run_state["sampler"] == {"seed": 1, "epoch": 0, "start": 0}
    assert run_state["loader_generator"] is not None
    gpa = run_state["trainer_state"]["gpa"]
    assert gpa["num_updates"] == 1 and gpa["sum"] is not None

    fresh = make_trainer("PromptSRC", hiershapes_root, out, "OPTIM.MAX_EPOCH", "2")
    fresh.before_train()  # resumes
    assert fresh.start_epoch == 1 and fresh._gpa.num_updates == 1
    for key, value in trainer._gpa.sum.items():
        assert torch.equal(fresh._gpa.sum[key], value)
    assert fresh._optims["prompt_learner"].state_dict()["state"].keys() == trainer.optim.state_dict()["state"].keys()


class _Killed(Exception):
    pass


def test_resume_restores_the_random_state_that_dropout_draws_from(hiershapes_root, tmp_path):
    """With dropout in the graph encoder the forward draws from torch's generator: a resume that did not
    restore it would train epoch 2 with other dropout masks."""
    from trainer_helpers import make_trainer

    from hgclip.runtime.dassl_api import set_random_seed

    opts = ("OPTIM.MAX_EPOCH", "2", "OPTIM.WARMUP_EPOCH", "0", "OPTIM.LR", "0.05", "TEST.NO_TEST", "True",
            "TRAINER.HGCLIP.TEXT_GNN.DROPOUT", "0.3", "TRAINER.HGCLIP.IMAGE_GNN.DROPOUT", "0.3")
    set_random_seed(1)
    whole = make_trainer("HGCLIP", hiershapes_root, str(tmp_path / "whole"), *opts)
    whole.train()

    set_random_seed(1)
    interrupted = make_trainer("HGCLIP", hiershapes_root, str(tmp_path / "cut"), *opts)
    after_epoch = interrupted.after_epoch

    def after_epoch_then_die() -> None:
        after_epoch()
        raise _Killed

    interrupted.after_epoch = after_epoch_then_die
    with pytest.raises(_Killed):
        interrupted.train()
    torch.manual_seed(12345)  # whatever state the new process starts with
    resumed = make_trainer("HGCLIP", hiershapes_root, str(tmp_path / "cut"), *opts)
    resumed.train()
    assert resumed.start_epoch == 1
    for key, value in whole.model.learner.state_dict().items():
        assert torch.equal(resumed.model.learner.state_dict()[key], value), key
