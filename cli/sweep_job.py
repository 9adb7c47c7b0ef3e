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
import shlex
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from typing import Optional, Sequence

from ..runtime.run_dir import SWEEP_LOCK_FILE, RunDirError, RunLock, log_path, run_finished
from .sweep_plan import Job, Run

LAUNCHER = "hgclip.cli.launch"  # torchrun (torch.distributed.run) that exits with the workers' code
TRAIN_MODULE = "hgclip.cli.train"  # train.py's program, from wherever the package is installed
PROGRESS_LINES = ("epoch [", "* accuracy", "Computing node", "pretraining")  # what the front-ends echo of a run

RUNNING_ELSEWHERE = "running elsewhere"
DONE = "done"
RENDEZVOUS_PORT = 29517  # the c10d rendezvous port of a multi-node job, on its first node


class JobFailed(RuntimeError):
    """A run of the chain failed; the message is ``<job>: [<run>] <last line of its output>``."""


@dataclass(frozen=True)
class Options:
    """How each run is launched (``nproc`` processes per node through torchrun, ``rendezvous``: torchrun's options on
    one node, default ``--standalone``) and what is echoed: every line (``verbose``), the progress lines
    (``progress``, as the front-ends print them), or nothing but failures (``quiet``: the sweep's bar is the output)."""

    nproc: int = 1
    verbose: bool = False
    quiet: bool = False
    progress: bool = False
    job_in_label: bool = True  # "[<job>: <run>]" (a sweep's many jobs) or "[<run>]" (a front-end's)
    rendezvous: tuple[str, ...] = ()


def train_command(args: Sequence[str], environ: Optional[dict] = None) -> list[str]:
    """``python -m hgclip.cli.train args`` (= ``python train.py args``), or with ``NPROC=N`` (N > 1) the same
    through torchrun with N processes (``TORCHRUN_ARGS`` replaces ``--standalone``)."""
    return run_command(Run("", "", tuple(args), "", False), options_from_env(environ))


def options_from_env(environ: Optional[dict] = None, **fields) -> Options:
    """Options with ``NPROC`` processes per run and ``TORCHRUN_ARGS`` as their rendezvous (one-line error for a bad
    ``NPROC``): what the front-ends' shell scripts document."""
    environ = os.environ if environ is None else environ
    value = environ.get("NPROC", "").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"NPROC={value!r}: expected a number of processes >= 1")
    return Options(nproc=int(value), rendezvous=tuple(shlex.split(environ.get("TORCHRUN_ARGS", ""))), **fields)


def _node_layout() -> tuple[int, int, str]:
    """(nodes, this node's rank, first node's host) of the SLURM job running this, or (1, 0, "") elsewhere."""
    nodes = int(os.environ.get("SLURM_JOB_NUM_NODES", "1") or 1)
    if nodes <= 1:
        return 1, 0, ""
    import submitit

    env = submitit.JobEnvironment()
    return env.num_nodes, env.node, env.hostnames[0]


def rendezvous_options(nodes: int, node: int, first: str, one_node: Sequence[str] = ()) -> list[str]:
    """torchrun's options: ``one_node`` (default ``--standalone``) on one node; several meet on the first one (c10d)."""
    if nodes <= 1:
        return list(one_node) or ["--standalone"]
    return [f"--nnodes={nodes}", f"--node-rank={node}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={first}:{RENDEZVOUS_PORT}", f"--rdzv-id={os.environ.get('SLURM_JOB_ID', 'hgclip')}"]


def run_command(run: Run, options: Options) -> list[str]:
    """``python -m hgclip.cli.train ...`` (train.py's program, wherever the package is installed), or the project's
    torchrun launcher with ``nproc`` processes per node."""
    nodes, node, first = _node_layout()
    if nodes <= 1 and options.nproc <= 1:
        return [sys.executable, "-u", "-m", TRAIN_MODULE, *run.argv]
    return [sys.executable, "-u", "-m", LAUNCHER, *rendezvous_options(nodes, node, first, options.rendezvous),
            f"--nproc_per_node={max(options.nproc, 1)}", "-m", TRAIN_MODULE, *run.argv]


def echo_line(command: Sequence[str], run: Run, label: str) -> str:
    """``[label] python train.py ARGS`` or ``[label] torchrun OPTIONS train.py ARGS``: the ecosystem's name for
    the program, whatever module runs it."""
    head = list(command[:len(command) - len(run.argv) - 2])  # before "-m hgclip.cli.train"
    launcher = "torchrun " + " ".join(head[head.index(LAUNCHER) + 1:]) if LAUNCHER in head else "python"
    return f"[{label}] {launcher} train.py {' '.join(run.argv)}"


def _execute(run: Run, options: Options, label: str) -> None:
    command = run_command(run, options)
    if not options.quiet:
        print(echo_line(command, run, label), flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    tail: deque[str] = deque(maxlen=60)
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line)
            if options.verbose or (options.progress and line.startswith(PROGRESS_LINES)):
                print(f"  {line.rstrip()}", flush=True)
        code = process.wait()
    if code != 0:
        sys.stdout.write("".join(tail))
        last = next((line.strip() for line in reversed(tail) if line.strip()), f"exit code {code}")
        raise JobFailed(f"[{label}] {last} (train.py exit code {code}; log: {log_path(run.output_dir)})")


def run_train(args: Sequence[str], verbose: bool, label: str) -> None:
    """One ``train.py`` run outside a grid (a tool's single evaluation), its progress echoed as the front-ends echo
    it (``NPROC``/``TORCHRUN_ARGS`` honoured); a failure exits with its output's last line."""
    argv = list(args)
    output_dir = argv[argv.index("--output-dir") + 1] if "--output-dir" in argv else ""
    try:
        _execute(Run(label, output_dir, tuple(argv), "", False), options_from_env(verbose=verbose, progress=True), label)
    except JobFailed as error:
        raise SystemExit(str(error)) from None


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
            label = f"{job.name}: {run.label}" if options.job_in_label else run.label
            if run_finished(run.output_dir, run.trains):
                if options.progress:
                    print(f"[{label}] finished run found in {run.output_dir}: skipped", flush=True)
                continue
            _execute(run, options, label)
            ran.append(run.output_dir)
    except JobFailed as error:
        if not options.job_in_label:
            raise
        raise JobFailed(f"{job.name}: {error}") from None
    finally:
        for lock in locks:
            lock.release()
    return {"job": job.name, "status": DONE, "ran": ran, "message": ""}
