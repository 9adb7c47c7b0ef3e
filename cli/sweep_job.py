"""Run one sweep job on the machine the executor chose: its chain of ``train.py`` runs, in order.

The job holds ``sweep.lock`` (:class:`hgclip.runtime.run_dir.RunLock`, an ``flock`` released however the
process ends) in every directory of its chain while it runs, so two sweeps over one output tree never run
the same run twice: the second finds the lock taken and reports "running elsewhere" instead of failing.
``train.py`` takes the directory's own ``run.lock`` inside, as always. A finished run is skipped (the
submitting side has compared its recorded config); a failed run stops the chain with its output's last line.

Several SLURM nodes for one run (``--nodes M``): submitit starts this function once per node; each node runs
torchrun with ``--nnodes M --node-rank <its SLURM_NODEID>`` and a c10d rendezvous on the job's first node.
Only the first node takes the locks; the others follow the same chain.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from typing import Optional

from ..runtime.run_dir import SWEEP_LOCK_FILE, RunDirError, RunLock, log_path, run_finished
from .base2new import LAUNCHER, TRAIN_MODULE
from .sweep_plan import Job, Run

RUNNING_ELSEWHERE = "running elsewhere"
DONE = "done"
RENDEZVOUS_PORT = 29517  # the c10d rendezvous port of a multi-node job, on its first node


class JobFailed(RuntimeError):
    """A run of the chain failed; the message is ``<job>: [<run>] <last line of its output>``."""


@dataclass(frozen=True)
class Options:
    """How each run is launched: ``nproc`` processes per node through torchrun; ``verbose``: echo every line."""

    nproc: int = 1
    verbose: bool = False
    quiet: bool = False  # print nothing but failures (the submitting side's progress bar is the output)


def _node_layout() -> tuple[int, int, str]:
    """(nodes, this node's rank, first node's host) of the SLURM job running this, or (1, 0, "") elsewhere."""
    nodes = int(os.environ.get("SLURM_JOB_NUM_NODES", "1") or 1)
    if nodes <= 1:
        return 1, 0, ""
    import submitit

    env = submitit.JobEnvironment()
    return env.num_nodes, env.node, env.hostnames[0]


def rendezvous_options(nodes: int, node: int, first: str) -> list[str]:
    """torchrun's options: ``--standalone`` on one node; several nodes meet on the first one (c10d)."""
    if nodes <= 1:
        return ["--standalone"]
    return [f"--nnodes={nodes}", f"--node-rank={node}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={first}:{RENDEZVOUS_PORT}", f"--rdzv-id={os.environ.get('SLURM_JOB_ID', 'hgclip')}"]


def run_command(run: Run, options: Options) -> list[str]:
    """``python -m hgclip.cli.train ...`` (train.py's program, wherever the package is installed), or the project's
    torchrun launcher with ``nproc`` processes per node."""
    nodes, node, first = _node_layout()
    if nodes <= 1 and options.nproc <= 1:
        return [sys.executable, "-u", "-m", TRAIN_MODULE, *run.argv]
    return [sys.executable, "-u", "-m", LAUNCHER, *rendezvous_options(nodes, node, first),
            f"--nproc_per_node={max(options.nproc, 1)}", "-m", TRAIN_MODULE, *run.argv]


def _execute(run: Run, options: Options, label: str) -> None:
    command = run_command(run, options)
    if not options.quiet:
        print(f"[{label}] {' '.join(command[1:])}", flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    tail: deque[str] = deque(maxlen=60)
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line)
            if options.verbose:
                print(f"  {line.rstrip()}", flush=True)
        code = process.wait()
    if code != 0:
        sys.stdout.write("".join(tail))
        last = next((line.strip() for line in reversed(tail) if line.strip()), f"exit code {code}")
        raise JobFailed(f"[{label}] {last} (train.py exit code {code}; log: {log_path(run.output_dir)})")


def _take_locks(job: Job) -> tuple[list[RunLock], Optional[str]]:
    locks: list[RunLock] = []
    for directory in dict.fromkeys(run.output_dir for run in job.runs):
        lock = RunLock(directory, SWEEP_LOCK_FILE)
        try:
            locks.append(lock.acquire())
        except RunDirError as error:
            for held in locks:
                held.release()
            return [], str(error).split(";")[0]
    return locks, None


def run_job(job: Job, options: Options = Options()) -> dict:
    """Run the job's chain (skipping finished runs); return ``{"job", "status", "ran", "message"}``.

    Raises :class:`JobFailed` when a run fails, so that the executor records the job as failed.
    """
    nodes, node, _ = _node_layout()
    locks: list[RunLock] = []
    if node == 0:
        locks, holder = _take_locks(job)
        if holder is not None:
            print(f"{job.name}: {RUNNING_ELSEWHERE} ({holder})", flush=True)
            return {"job": job.name, "status": RUNNING_ELSEWHERE, "ran": [], "message": holder}
    ran = []
    try:
        for run in job.runs:
            if run_finished(run.output_dir, run.trains):
                continue
            _execute(run, options, f"{job.name}: {run.label}")
            ran.append(run.output_dir)
    except JobFailed as error:
        raise JobFailed(f"{job.name}: {error}") from None
    finally:
        for lock in locks:
            lock.release()
    return {"job": job.name, "status": DONE, "ran": ran, "message": ""}
