"""Several processes, one run: torchrun with 2 gloo processes equals one process with the same global batch."""
from __future__ import annotations

import os.path as osp

import pytest
import torch
from run_helpers import check_ok, metrics, results, run_train, train_args

from hgclip.engine.loaders import GlobalBatchSampler, ShardSampler


def _learner(run_dir: str, epoch: int) -> dict:
    path = osp.join(run_dir, "prompt_learner", f"model.pth.tar-{epoch}")
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_two_gloo_processes_equal_one_process(baseline_run, tmp_path):
    out = str(tmp_path / "ddp")
    stdout = check_ok(run_train(train_args(baseline_run["root"], out), nproc=2))
    assert "Distributed: 2 processes (gloo)" in stdout

    single, ddp = results(baseline_run["dir"]), results(out)
    assert ddp["num_processes"] == 2 and single["num_processes"] == 1
    # every test sample counted exactly once, with a test set that does not divide by the world size
    assert single["num_samples"] == ddp["num_samples"] == 95 and 95 % 2 == 1
    one, two = metrics(single), metrics(ddp)
    assert one.keys() == two.keys()
    for key in one:
        assert two[key] == pytest.approx(one[key], abs=1e-4), key

    # the same optimisation, not just the same numbers: learner weights agree, and training moved them
    final_single, final_ddp = _learner(baseline_run["dir"], 2), _learner(out, 2)
    first = _learner(baseline_run["dir"], 1)
    moved = max((final_single[k] - first[k]).abs().max().item() for k in final_single)
    assert moved > 1e-3, "training did not change the learner; the comparison would prove nothing"
    for key in final_single:
        torch.testing.assert_close(final_ddp[key], final_single[key], atol=1e-4, rtol=0)

    # only rank 0 wrote: one log, one checkpoint folder, one results file
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir() if p.name.startswith("log.txt")) == ["log.txt"]


def test_shares_of_a_global_batch_make_up_the_one_process_batches():
    single = GlobalBatchSampler(37, 8, seed=3, shuffle=True, drop_last=True)
    shares = [GlobalBatchSampler(37, 8, seed=3, shuffle=True, drop_last=True, rank=r, world_size=3) for r in range(3)]
    for epoch in (0, 1):
        for sampler in [single, *shares]:
            sampler.set_epoch(epoch)
        expected = list(single)
        assert len(expected) == single.num_batches == 4  # the partial batch of 5 is dropped
        for number, batch in enumerate(expected):
            combined = [pair for share in shares for pair in list(share)[number]]
            assert combined == batch  # same indices, same per-sample augmentation seeds, same order
    single.set_epoch(0)
    other_epoch = GlobalBatchSampler(37, 8, seed=3)
    other_epoch.set_epoch(1)
    assert list(single) != list(other_epoch), "every epoch has its own order"


def test_a_sampler_started_mid_epoch_continues_the_same_sequence():
    sampler = GlobalBatchSampler(40, 8, seed=1)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start=3)
    assert list(sampler) == full[3:]
    assert len(sampler) == 5  # the epoch's length, as Dassl's progress lines need it


def test_a_global_batch_smaller_than_the_world_is_refused():
    with pytest.raises(ValueError, match="global batch"):
        GlobalBatchSampler(3, 8, seed=0, world_size=4)


@pytest.mark.parametrize("size,world", [(95, 2), (10, 3), (2, 4)])
def test_shards_cover_every_sample_exactly_once(size, world):
    seen = sorted(i for rank in range(world) for i in ShardSampler(size, rank, world))
    assert seen == list(range(size))
