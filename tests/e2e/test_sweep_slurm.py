"""hgclip-sweep through a real SLURM (a one-node cluster started on this machine, tests/slurm_cluster.py).

* A 2 x 2 grid (2 trainers x 2 seeds) sent through the SLURM executor gives the local executor's results.json
  byte for byte.
* A job cancelled with scancel is the only one that running the same sweep again submits and completes.

Where SLURM cannot start (not root, slurm-wlm or munge not installed), the tests skip and say why;
``.ci/run`` installs Debian's slurm-wlm and munge where it can and runs them.
"""
from __future__ import annotations

import os
import os.path as osp
import subprocess
import sys
import time

import pytest
import slurm_cluster

pytestmark = pytest.mark.slow  # about two minutes on 2 cores (.ci/run runs them explicitly)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GRID = ["--protocol", "all", "--datasets", "hiershapes", "--trainers", "CoOp", "ZeroshotCLIP", "--seeds", "1", "2"]
TINY = ["--", "MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2"]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    cluster = slurm_cluster.start(str(tmp_path_factory.mktemp("slurm")))
    if isinstance(cluster, str):
        pytest.skip(f"no SLURM cluster here: {cluster}")
    try:
        yield cluster
    finally:
        slurm_cluster.stop(cluster)


def sweep(env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(env, HGCLIP_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "hgclip.cli.sweep", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def check(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def results_files(output: str) -> dict[str, bytes]:
    found = {}
    for folder, _, files in os.walk(osp.join(output, "compare")):
        if "results.json" in files:
            with open(osp.join(folder, "results.json"), "rb") as handle:
                found[osp.relpath(folder, output)] = handle.read()
    return found


def test_slurm_grid_equals_local_bit_for_bit(slurm, hiershapes_root, tmp_path):
    local, cluster = str(tmp_path / "local"), str(tmp_path / "slurm")
    common = [*GRID, "--root", hiershapes_root]
    out = check(sweep(slurm.env, *common, "--output", local, "--executor", "local", "--parallel", "2", *TINY))
    assert "4 job(s): 0 finished (skipped), 4 to run (local executor)" in out
    out = check(sweep(slurm.env, *common, "--output", cluster, "--executor", "slurm", "--cpus-per-job", "1",
                      "--time", "20", *TINY))
    assert "submitted 4 job(s) to SLURM" in out and "4 job(s) ran" in out and "0 failed" in out
    assert any(name.endswith("_log.out") for name in os.listdir(osp.join(cluster, "sweep", "jobs")))
    mine, theirs = results_files(local), results_files(cluster)
    assert len(mine) == 4 and mine.keys() == theirs.keys()
    for run in mine:
        assert theirs[run] == mine[run], run  # bit for bit
    with open(osp.join(cluster, "sweep", "tables", "all", "hiershapes", "comparison.md"), encoding="utf-8") as h:
        table = h.read()
    assert "ZeroshotCLIP" in table and "CoOp" in table and "±" in table
    assert osp.isfile(osp.join(cluster, "sweep", "tables", "all", "hiershapes", "comparison.html"))

    again = check(sweep(slurm.env, *common, "--output", cluster, "--executor", "slurm", *TINY))
    assert "4 job(s): 4 finished (skipped), 0 to run" in again


def _queue(env: dict) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], env=env, capture_output=True, text=True)
    return out.stdout.split()


def test_a_cancelled_job_is_the_only_one_run_again(slurm, hiershapes_root, tmp_path):
    output = str(tmp_path / "out")
    args = ["--protocol", "all", "--datasets", "hiershapes", "--trainers", "ZeroshotCLIP", "--seeds", "1", "2",
            "--root", hiershapes_root, "--output", output, "--executor", "slurm", "--cpus-per-job", "2",
            "--array-parallelism", "1", "--time", "20"]
    out = check(sweep(slurm.env, *args, "--no-wait", *TINY))
    assert "submitted 2 job(s) to SLURM" in out
    queued = _queue(slurm.env)
    victim = next(job for job in queued if job.endswith("_1") or "_[1" in job)
    subprocess.run(["scancel", victim.split("_[")[0] + "_1" if "_[" in victim else victim], env=slurm.env, check=True)
    deadline = time.time() + 600
    while _queue(slurm.env) and time.time() < deadline:
        time.sleep(1)
    assert not _queue(slurm.env)
    seed1 = osp.join(output, "compare", "hiershapes", "ZeroshotCLIP", "tiny", "seed1", "results.json")
    seed2 = osp.join(output, "compare", "hiershapes", "ZeroshotCLIP", "tiny", "seed2", "results.json")
    assert osp.isfile(seed1) and not osp.isfile(seed2)
    before = os.stat(seed1).st_mtime_ns

    rerun = check(sweep(slurm.env, *args, *TINY))
    assert "2 job(s): 1 finished (skipped), 1 to run" in rerun
    assert "1 job(s) ran" in rerun and "0 failed" in rerun
    assert osp.isfile(seed2) and os.stat(seed1).st_mtime_ns == before
