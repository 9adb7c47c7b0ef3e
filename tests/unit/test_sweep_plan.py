"""hgclip-sweep's planning: a grid -> jobs with their train.py command lines, directories and dependencies
(pure: nothing runs), the finished-run check and the sweep lock."""
from __future__ import annotations

import os.path as osp

import pytest

from hgclip.cli import compare, sweep
from hgclip.cli.sweep_job import RUNNING_ELSEWHERE, Options, rendezvous_options, run_job
from hgclip.cli.sweep_plan import Grid, describe, plan
from hgclip.runtime.run_dir import SWEEP_LOCK_FILE, RunLock


def _grid(protocol: str, **kwargs) -> Grid:
    values = {"datasets": ["hiershapes"], "cells": ["CoOp", "HGCLIP"], "seeds": [1, 2], "root": "/data",
              "output": "/out", "opts": ["OPTIM.MAX_EPOCH", "1"]}
    values.update(kwargs)
    return Grid(protocol=protocol, **values)


def test_all_protocol_matches_compare_run_for_run():
    jobs = plan(_grid("all"))
    assert [job.name for job in jobs] == ["all/hiershapes/CoOp/tiny_hiershapes/seed1",
                                          "all/hiershapes/CoOp/tiny_hiershapes/seed2",
                                          "all/hiershapes/HGCLIP/tiny_hiershapes/seed1",
                                          "all/hiershapes/HGCLIP/tiny_hiershapes/seed2"]
    ns = type("NS", (), {"root": "/data", "output": "/out", "shots": 16, "variant_files": {}})()
    plan_ = compare.Plan(dataset="hiershapes", trainers=["CoOp"], seeds=[1], opts=["OPTIM.MAX_EPOCH", "1"])
    config = compare.config_for("CoOp", "hiershapes", {})
    assert list(jobs[0].runs[0].argv) == compare.train_args(ns, plan_, "CoOp", config, 1)
    assert jobs[0].runs[0].output_dir == compare.run_dir_for("/out", "hiershapes", "CoOp", config, 1)


def test_base2new_chains_the_evaluation_after_its_training():
    job = plan(_grid("base2new", cells=["CoOp"], seeds=[3]))[0]
    train, test = job.runs
    assert train.output_dir == "/out/base2new/train_base/hiershapes/shots_16/CoOp/tiny_hiershapes/seed3"
    assert test.output_dir == "/out/base2new/test_new/hiershapes/shots_16/CoOp/tiny_hiershapes/seed3"
    assert train.argv[-2:] == ("DATASET.SUBSAMPLE_CLASSES", "base") and train.trains
    assert test.argv[-2:] == ("DATASET.SUBSAMPLE_CLASSES", "new") and not test.trains
    assert "--eval-only" in test.argv and test.argv[test.argv.index("--model-dir") + 1] == train.output_dir
    assert job.dependencies == {1: 0}
    assert "(after seed 3 train on base)" in describe(job)


def test_xd_trains_once_then_tests_every_target_and_zero_shot_only_evaluates():
    grid = _grid("xd", datasets=["cifar100", "dtd"], cells=["CoOp", "ZeroshotCLIP"], seeds=[1], source="hiershapes")
    coop, zeroshot = plan(grid)
    assert [run.label for run in coop.runs] == ["CoOp seed 1 train on hiershapes", "CoOp seed 1 test on cifar100",
                                               "CoOp seed 1 test on dtd"]
    assert coop.dependencies == {1: 0, 2: 0}
    assert [run.label for run in zeroshot.runs][0] == "ZeroshotCLIP seed 1 test on hiershapes"
    assert zeroshot.dependencies == {} and all("--model-dir" not in run.argv for run in zeroshot.runs)
    dg = plan(_grid("dg", datasets=[], cells=["CoOp"], seeds=[1]))[0]
    assert [run.label.rsplit(" ", 1)[1] for run in dg.runs] == ["imagenet", "imagenetv2", "imagenet_sketch",
                                                                "imagenet_a", "imagenet_r"]


def test_variant_cells_add_their_keys_and_bad_grids_stop_in_one_line():
    grid = _grid("all", cells=["CoOp+ProTeCt"], seeds=[1],
                 variant_files={"ProTeCt": osp.join(compare.VARIANT_DIR, "ProTeCt.yaml")})
    argv = plan(grid)[0].runs[0].argv
    assert "LOSS.PROTECT.NODE_WEIGHT" in argv and "/CoOp+ProTeCt/" in plan(grid)[0].runs[0].output_dir
    with pytest.raises(SystemExit, match="unknown dataset 'nope'"):
        plan(_grid("all", datasets=["nope"]))
    with pytest.raises(SystemExit, match="KEY VALUE pairs"):
        plan(_grid("all", opts=["OPTIM.MAX_EPOCH"]))
    with pytest.raises(SystemExit, match="--datasets"):
        plan(_grid("xd", datasets=[]))
    with pytest.raises(SystemExit, match="unknown trainer 'Nope'"):
        sweep.make_grid(*sweep.parse(["--trainers", "Nope"]))


def test_dry_run_prints_every_job(capsys):
    assert sweep.main(["--protocol", "base2new", "--trainers", "CoOp", "--seeds", "1", "2", "--dry-run",
                       "--output", "/tmp/none"]) == 0
    out = capsys.readouterr().out
    assert out.count("] python train.py") == 4 and "2 job(s), 4 run(s)" in out


def test_a_job_whose_directories_are_locked_reports_running_elsewhere(tmp_path):
    job = plan(_grid("all", cells=["CoOp"], seeds=[1], output=str(tmp_path)))[0]
    lock = RunLock(job.runs[0].output_dir, SWEEP_LOCK_FILE).acquire()
    try:
        result = run_job(job, Options(quiet=True))
    finally:
        lock.release()
    assert result["status"] == RUNNING_ELSEWHERE and "in use by process" in result["message"]
    assert not sweep.job_finished(job)


def test_rendezvous_of_several_nodes():
    assert rendezvous_options(1, 0, "") == ["--standalone"]
    options = rendezvous_options(2, 1, "node7")
    assert "--nnodes=2" in options and "--node-rank=1" in options and "--rdzv-backend=c10d" in options
    assert any(option.startswith("--rdzv-endpoint=node7:") for option in options)
