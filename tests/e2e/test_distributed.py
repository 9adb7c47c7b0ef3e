"""Several processes, one run: torchrun with 2 gloo processes equals one process with the same global batch
(up to the rounding of a gradient summed in shares, which is shown to be the only difference)."""
from __future__ import annotations

import os.path as osp

import pytest
import torch
from run_helpers import check_ok, metrics, results, run_python, run_train, train_args

from hgclip.engine.loaders import GlobalBatchSampler, ShardSampler


def _learner(run_dir: str, epoch: int) -> dict:
    path = osp.join(run_dir, "prompt_learner", f"model.pth.tar-{epoch}")
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


#: train.py in one process whose gradient of each global batch is computed as 2 processes compute it: one
#: backward per share (torch.tensor_split, as GlobalBatchSampler cuts it), then the batch-weighted sum of
#: hgclip.runtime.distributed.all_reduce_gradients (for 2 shares a + b, the sum gloo computes)
SPLIT_GRADIENT_TRAIN = """
import sys
import torch
from hgclip.cli import train
from hgclip.engine.trainer import HierarchicalCLIPTrainer

def forward_backward(self, batch):
    images, labels = self.parse_batch_train(batch)
    params = [p for name in self.get_model_names() for p in self._models[name].parameters() if p.requires_grad]
    total = None
    for share in torch.tensor_split(torch.arange(images.shape[0]), 2):
        begin, end = int(share[0]), int(share[-1]) + 1
        self.model_zero_grad()
        loss, _ = self.compute_loss(images[begin:end], labels[begin:end])
        loss.float().backward()
        grads = [p.grad for p in params if p.grad is not None]
        flat = torch.cat([g.detach().reshape(-1).float() for g in grads] + [torch.ones(1)]).mul_(float(end - begin))
        total = flat if total is None else total + flat
    mean, offset = total[:-1] / total[-1], 0
    for grad in grads:
        grad.copy_(mean[offset:offset + grad.numel()].view_as(grad))
        offset += grad.numel()
    self.model_update()
    if (self.batch_idx + 1) == self.num_batches:
        self.update_lr()
    return {"loss": loss.item()}

HierarchicalCLIPTrainer.forward_backward = forward_backward
train.main(sys.argv[1:])
"""


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

    # ... and the difference is only the rounding of a gradient summed in two shares (docs/guide/running.md):
    # one process that sums each batch's gradient as the two processes do gives their weights bit for bit
    split = str(tmp_path / "split")
    check_ok(run_python("-c", SPLIT_GRADIENT_TRAIN, *train_args(baseline_run["root"], split)))
    final_split = _learner(split, 2)
    for key in final_split:
        assert torch.equal(final_split[key], final_ddp[key]), key

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


def test_bad_input_under_two_processes_exits_2_with_rank_0s_line_only(odd_dataset_root, tmp_path):
    """hgclip-torchrun (what the scripts' NPROC runs use) exits as one process does; rank 1 stays silent."""
    args = train_args(odd_dataset_root, str(tmp_path / "bad"), "LOSS.PROTECT.DROP_RATE", "2.0")
    result = run_train(args, nproc=2)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert [line for line in output.splitlines() if "error" in line.lower()] == [
        "error: LOSS.PROTECT.DROP_RATE is 2.0: expected a probability in [0, 1]"]
    assert "Traceback" not in output and "ChildFailedError" not in output


def test_a_failed_workers_code_becomes_the_launchers():
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    from hgclip.cli.launch import worker_exit_code

    def failed(code: int, rank: int = 1) -> ChildFailedError:
        return ChildFailedError("train.py", {rank: ProcessFailure(rank, 4242, code, "")})

    assert worker_exit_code(failed(2)) == (1, 2)
    assert worker_exit_code(failed(130, rank=0)) == (0, 130)
    assert worker_exit_code(failed(-9)) == (1, 137)  # killed by SIGKILL, as a shell reports it
    assert worker_exit_code(failed(1)) == (1, 1)
