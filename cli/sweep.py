"""Run a grid of runs (datasets x trainers x seeds, one protocol) locally or on SLURM, through submitit.

    hgclip-sweep --protocol all --datasets hiershapes --trainers CoOp HGCLIP --seeds 1 2 3 [-- KEY VALUE ...]
    hgclip-sweep --executor slurm --partition gpu --gpus-per-job 1 --time 240 ... (same grid)
    hgclip-sweep --collect OUTPUT                  # the tables of a finished tree

* Protocols: ``all`` (compare's: all classes), ``base2new`` (train on base, test on new), ``xd`` (train on
  ``--source``, test on ``--datasets``), ``dg`` (xd with the ImageNet variants as default targets).
* One job per dataset x cell x seed (xd/dg: per cell x seed) runs its chain of ``train.py`` runs in order
  (:mod:`hgclip.cli.sweep_plan`, :mod:`hgclip.cli.sweep_job`); ``--dry-run`` prints them.
* Idempotent: a finished run whose recorded config equals the planned one and whose recorded inputs (the
  contents of the hierarchy, image listings, CLIP weights and an evaluation's model files) are those its command
  would run on now is skipped (another config or other inputs stop the sweep in one line per run, as compare
  does); running the command again submits only what is missing or failed;
  a job whose directories are locked by another sweep reports "running elsewhere".
* ``--wait`` (default) follows the jobs with a progress bar, reports each failure with its output's last line,
  then writes mean ± std per cell (markdown, CSV, comparison.html; ``--plots``: comparison.png) under
  ``<output>/sweep/tables/``.
* The scripts (``base2new.sh``, ``compare.sh``, ``xd.sh``) are front-ends of this runner: they plan their grid
  here and run it with :func:`run_here`, the local executor in order with the output streamed.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Any, Optional, Sequence

from .. import project  # noqa: F401  (registers the trainers under their table names)
from ..registry import list_trainers
from ..runtime.run_dir import run_finished
from .grid import EMBEDDED, available_variants, paper_order, split_cell
from .run_reuse import check_reusable
from .sweep_collect import collect, render
from .sweep_job import DONE, RUNNING_ELSEWHERE, JobFailed, Options, run_job
from .sweep_plan import PROTOCOLS, Grid, Job, describe, plan

POLL_S = 2.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hgclip-sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    grid = parser.add_argument_group("grid")
    grid.add_argument("--protocol", choices=PROTOCOLS, default="base2new")
    grid.add_argument("--datasets", nargs="+", default=None,
                      help="dataset config names (default: hiershapes; xd: the targets; dg: the ImageNet variants)")
    grid.add_argument("--trainers", nargs="+", default=None, metavar="CELL",
                      help="TRAINER or TRAINER+VARIANT cells (default: every registered trainer for 'all', else HGCLIP)")
    grid.add_argument("--seeds", type=int, nargs="+", default=[1])
    grid.add_argument("--shots", type=int, default=None, help="DATASET.NUM_SHOTS (default: the protocol's tool's)")
    grid.add_argument("--source", default="imagenet", help="xd/dg: the dataset trained on")
    grid.add_argument("--config", default="", help="every cell's config: a role (tiny, base2new, paper), name or file")
    grid.add_argument("--variants", action="append", default=[], metavar="DIR", help="a folder of variant YAML files")
    grid.add_argument("--root", default=os.environ.get("DATA") or "data", help="DATASET.ROOT (default: $DATA, else ./data)")
    grid.add_argument("--output", default=os.environ.get("OUTPUT") or "output",
                      help="output root (default: $OUTPUT, else ./output)")
    run = parser.add_argument_group("execution")
    run.add_argument("--executor", choices=("local", "slurm"), default="local")
    run.add_argument("--parallel", type=int, default=1, help="local: jobs at once (default 1)")
    run.add_argument("--partition", default="", help="slurm: partition")
    run.add_argument("--time", type=int, default=240, help="minutes per job (slurm --time; local: its timeout)")
    run.add_argument("--gpus-per-job", type=int, default=None, help="GPUs per node (default: slurm 0, local all visible)")
    run.add_argument("--cpus-per-job", type=int, default=2, help="slurm: CPUs per task")
    run.add_argument("--array-parallelism", type=int, default=64, help="slurm: array jobs running at once")
    run.add_argument("--nodes", type=int, default=1, help="slurm: nodes per run (torchrun with a c10d rendezvous)")
    run.add_argument("--nproc", type=int, default=1, help="processes per node of each run (torchrun)")
    run.add_argument("--folder", default="", help="submitit's folder (default: <output>/sweep/jobs)")
    run.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                     help="follow the jobs, then write the tables (default)")
    run.add_argument("--dry-run", action="store_true", help="print the jobs and exit")
    run.add_argument("--collect", metavar="OUTPUT", default=None, help="write the tables of a finished tree and exit")
    run.add_argument("--verbose", action="store_true", help="echo every line of every run")
    run.add_argument("--plots", action="store_true",
                     help="also draw each table's comparison.png (matplotlib; most of a collection's time)")
    return parser


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    opts: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, opts = argv[:cut], argv[cut + 1:]
    return build_parser().parse_args(argv), opts


def make_grid(ns: argparse.Namespace, opts: list[str]) -> Grid:
    """The grid of the command line, cells checked (one line naming the bad one)."""
    variants = available_variants(ns.variants)
    registered = list_trainers()
    cells = ns.trainers or (list(registered) if ns.protocol == "all" else ["HGCLIP"])
    for cell in cells:
        trainer, variant = split_cell(cell)
        if trainer not in registered:
            raise SystemExit(f"--trainers: unknown trainer {trainer!r}: expected one of {', '.join(paper_order(registered))}")
        if variant and variant not in variants:
            raise SystemExit(f"--trainers: unknown variant {variant!r} in {cell!r}: expected one of "
                             f"{', '.join(variants) or 'none'}")
    datasets = ns.datasets if ns.datasets is not None else ([] if ns.protocol in ("xd", "dg") else [EMBEDDED])
    return Grid(protocol=ns.protocol, datasets=list(datasets), cells=paper_order(list(dict.fromkeys(cells))),
                seeds=list(ns.seeds), root=osp.abspath(ns.root), output=osp.abspath(ns.output), opts=opts,
                shots=ns.shots, source=ns.source, config=ns.config, variant_files=variants)


def job_finished(job: Job) -> bool:
    """Every run of the job finished."""
    return all(run_finished(run.output_dir, run.trains) for run in job.runs)


def jobs_to_run(jobs: Sequence[Job]) -> list[Job]:
    """The jobs that have not finished, once every finished run (a job skips its finished runs, so those of an
    unfinished job too) is known to be reusable (:func:`check_reusable`: else the sweep stops naming each run)."""
    check_reusable([run for job in jobs for run in job.runs])
    return [job for job in jobs if not job_finished(job)]


# ---------------------------------------------------------------------- executors
def run_here(jobs: Sequence[Job], options: Options, keep_going: bool = False) -> dict[str, str]:
    """The local executor of the front-ends (base2new, compare, xd/dg): the jobs in order, in this process, their
    output streamed as it comes. A finished run is reused only after :func:`check_reusable` (a stale one stops
    everything); a failed job stops the others unless ``keep_going``. Returns job name -> failure message."""
    failed: dict[str, str] = {}
    check_reusable([run for job in jobs for run in job.runs])
    for job in jobs:
        try:
            run_job(job, options)
        except JobFailed as error:
            if not keep_going:
                raise SystemExit(str(error)) from None
            failed[job.name] = str(error)
            print(error, flush=True)
    return failed


def make_executor(ns: argparse.Namespace, folder: str) -> Any:
    import submitit

    if ns.executor == "slurm":
        executor = submitit.SlurmExecutor(folder=folder)
        params: dict = {"time": ns.time, "cpus_per_task": ns.cpus_per_job, "nodes": ns.nodes, "ntasks_per_node": 1,
                        "array_parallelism": ns.array_parallelism, "job_name": "hgclip-sweep"}
        if ns.partition:
            params["partition"] = ns.partition
        if ns.gpus_per_job:
            params["gpus_per_node"] = ns.gpus_per_job
        executor.update_parameters(**params)
        return executor
    if ns.nodes != 1:
        raise SystemExit("--nodes: the local executor runs on this machine only (use --executor slurm)")
    executor = submitit.LocalExecutor(folder=folder)
    gpus = ns.gpus_per_job
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    executor.update_parameters(timeout_min=ns.time, gpus_per_node=gpus)
    return executor


def _slurm_active(job_ids: Sequence[str]) -> Optional[set]:
    """The ids (array tasks as ``<id>_<n>``) still in SLURM's queue; None when squeue cannot say."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(out.stdout.split()) if out.returncode == 0 else None


def _ended(job: Any, slurm: bool, active: Optional[set]) -> bool:
    """A job is over when its result is written, or (SLURM) it has left the queue without one (cancelled, killed).

    submitit asks ``sacct`` for states, which needs SLURM's accounting database; the queue answers without it.
    """
    if job.paths.result_pickle.exists():
        return True
    if not slurm:
        return job.done()
    return active is not None and job.job_id not in active and not job.paths.result_pickle.exists()


def outcome(job: Any) -> tuple[str, str]:
    """(status, message) of an ended job: done / running elsewhere / failed with its last line."""
    if job.paths.result_pickle.exists():
        try:
            result = job.result()
            return result["status"], result.get("message", "")
        except Exception as error:  # noqa: BLE001  (the job's exception, as submitit re-raises it)
            lines = [line for line in str(error).splitlines() if line.strip()]
            failed = next((line for line in reversed(lines) if "JobFailed" in line), lines[-1] if lines else "")
            return "failed", failed.split("JobFailed: ", 1)[-1].strip()
    try:
        text = job.stdout() or ""
    except Exception:  # noqa: BLE001
        text = ""
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    return "failed", f"the job ended without a result (cancelled or killed){': ' + last if last else ''}"


def submit(ns: argparse.Namespace, executor: Any, jobs: Sequence[Job], options: Options) -> list[Any]:
    """SLURM: one job array. Local: the first ``--parallel`` jobs (the rest as earlier ones end, see follow)."""
    if ns.executor == "slurm":
        with executor.batch():
            handles = [executor.submit(run_job, job, options) for job in jobs]
        return handles
    return [executor.submit(run_job, job, options) for job in jobs[:max(1, ns.parallel)]]


def follow(ns: argparse.Namespace, executor: Any, jobs: Sequence[Job], handles: list, options: Options) -> dict:
    """Wait for every job (submitting local ones as slots free up), with a bar; return ``name -> (status, message)``."""
    from tqdm import tqdm

    slurm = ns.executor == "slurm"
    outcomes: dict[str, tuple[str, str]] = {}
    running = dict(zip([job.name for job in jobs], handles))
    queue = list(jobs[len(handles):])
    with tqdm(total=len(jobs), desc="jobs", unit="job", file=sys.stderr, disable=None) as bar:
        while running:
            active = _slurm_active([h.job_id for h in running.values()]) if slurm else None
            for name, handle in list(running.items()):
                if _ended(handle, slurm, active):
                    outcomes[name] = outcome(handle)
                    del running[name]
                    bar.update(1)
                    if outcomes[name][0] == "failed":
                        bar.write(f"failed: {name}: {outcomes[name][1]}")
                    elif outcomes[name][0] == RUNNING_ELSEWHERE:
                        bar.write(f"{RUNNING_ELSEWHERE}: {name} ({outcomes[name][1]})")
                    if queue:
                        job = queue.pop(0)
                        running[job.name] = executor.submit(run_job, job, options)
            failed = sum(1 for status, _ in outcomes.values() if status == "failed")
            bar.set_postfix_str(f"done {len(outcomes) - failed}, running {len(running)}, failed {failed}")
            if running:
                time.sleep(POLL_S)
    return outcomes


def main(argv: Optional[Sequence[str]] = None) -> int:
    ns, opts = parse(sys.argv[1:] if argv is None else argv)
    if ns.collect is not None:
        written = collect(osp.abspath(ns.collect), plots=ns.plots)
        if not written:
            raise SystemExit(f"{ns.collect}: no finished run (results.json) in compare/, base2new/ or xd/")
        print(render(written))
        return 0
    grid = make_grid(ns, opts)
    jobs = plan(grid)
    launcher = "python train.py" if ns.nproc <= 1 and ns.nodes <= 1 else f"torchrun ({ns.nodes} node(s) x {ns.nproc}) train.py"
    if ns.dry_run:
        for job in jobs:
            print(describe(job, launcher))
        print(f"{len(jobs)} job(s), {sum(len(job.runs) for job in jobs)} run(s)")
        return 0
    todo = jobs_to_run(jobs)  # a finished run made with another config or on other inputs stops the sweep here
    print(f"{len(jobs)} job(s): {len(jobs) - len(todo)} finished (skipped), {len(todo)} to run "
          f"({ns.executor} executor)", flush=True)
    options = Options(nproc=ns.nproc, verbose=ns.verbose, quiet=not ns.verbose)
    outcomes: dict[str, tuple[str, str]] = {}
    if todo:
        folder = ns.folder or osp.join(grid.output, "sweep", "jobs")
        executor = make_executor(ns, folder)
        handles = submit(ns, executor, todo, options)
        if ns.executor == "slurm":
            print(f"submitted {len(handles)} job(s) to SLURM: {', '.join(h.job_id for h in handles[:4])}"
                  f"{' ...' if len(handles) > 4 else ''}", flush=True)
        if not ns.wait:
            if ns.executor == "local" and len(todo) > len(handles):
                raise SystemExit("--no-wait with the local executor: --parallel must cover every job")
            return 0
        outcomes = follow(ns, executor, todo, handles, options)
    failed = {name: message for name, (status, message) in outcomes.items() if status == "failed"}
    elsewhere = [name for name, (status, _) in outcomes.items() if status == RUNNING_ELSEWHERE]
    done = sum(1 for status, _ in outcomes.values() if status == DONE)
    written = collect(grid.output, [grid.protocol], plots=ns.plots)
    if written:
        print(render(written))
    print(f"\n{done} job(s) ran, {len(jobs) - len(todo)} skipped, {len(elsewhere)} running elsewhere, "
          f"{len(failed)} failed")
    for name, message in failed.items():
        print(f"  failed: {name}: {message}")
    return 1 if failed else 0


def sweep_command() -> None:
    """The ``hgclip-sweep`` console command (a refusal: ``error: <message>`` and exit code 2)."""
    from .grid import Refusal

    try:
        code = main()
    except Refusal as refusal:
        print(f"error: {refusal.message}", file=sys.stderr)
        code = refusal.code
    sys.exit(code)


if __name__ == "__main__":
    sweep_command()
