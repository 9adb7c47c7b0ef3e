"""How hgclip-sweep's planner and collector scale: plan 5,000 jobs, collect 5,000 results.json.

    python -m hgclip.cli.bench_sweep [--jobs 5000] [--repeats 3]

* ``plan_all`` / ``plan_base2new``: :func:`hgclip.cli.sweep_plan.plan` of a grid of ``--jobs`` jobs (10 datasets x
  10 trainers x N seeds), compare's protocol (one run per job) and base-to-new (two runs per job);
* ``status``: the finished-run check of every run of those jobs on an empty tree (what a re-run does first);
* ``collect``: :func:`hgclip.cli.sweep_collect.collect` of a tree with ``--jobs`` synthetic results.json files
  (compare's layout), writing every table's markdown, CSV and HTML (what ``hgclip-sweep`` writes by default);
  ``collect --plots``: the same with every table's PNG too (``hgclip-sweep --plots``).

Median wall and CPU time over ``--repeats``, printed as a table. (Not a test: timings belong here, not in asserts.)
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import statistics
import tempfile
import time
from typing import Callable

from .. import project  # noqa: F401  (registers the trainers under their table names)
from ..evaluation.metric_spec import FULL_PATH_ACCURACY, TOP1, TOP5
from ..registry import list_trainers
from ..runtime.run_dir import results_path, run_finished
from .sweep_collect import collect, find_runs
from .sweep_plan import Grid, plan

DATASETS = ("caltech101", "cifar100", "dtd", "eurosat", "fgvc_aircraft", "food101", "oxford_flowers", "oxford_pets",
            "stanford_cars", "ucf101")


def _grid(protocol: str, jobs: int, output: str) -> Grid:
    cells = list_trainers()[:10]
    seeds = max(1, jobs // (len(DATASETS) * len(cells)))
    return Grid(protocol=protocol, datasets=list(DATASETS), cells=cells, seeds=list(range(1, seeds + 1)),
                root="/data", output=output, opts=["OPTIM.MAX_EPOCH", "5"])


def _results(levels: list[str], seed: int, cell: int) -> dict:
    top1 = {level: 50.0 + (seed * 7 + cell * 3 + i) % 40 for i, level in enumerate(levels)}
    return {"trainer": "T", "seed": seed, "levels": levels, FULL_PATH_ACCURACY: 30.0 + seed % 5,
            "per_level": {level: {TOP1: value, TOP5: None} for level, value in top1.items()}}


def write_tree(output: str, jobs: int) -> int:
    """``jobs`` results.json files in compare's layout: <output>/compare/<dataset>/<cell>/<cfg>/seed<S>."""
    cells = [f"M{i}" for i in range(10)]
    seeds = max(1, jobs // (len(DATASETS) * len(cells)))
    count = 0
    for dataset in DATASETS:
        for c, cell in enumerate(cells):
            for seed in range(1, seeds + 1):
                folder = osp.join(output, "compare", dataset, cell, "cfg", f"seed{seed}")
                os.makedirs(folder, exist_ok=True)
                with open(results_path(folder), "w", encoding="utf-8") as handle:
                    json.dump(_results(["coarse", "fine"], seed, c), handle)
                count += 1
    return count


def timed(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds: CPU time tells the cost apart from a busy machine's waiting."""
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: "list[str] | None" = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    ns = parser.parse_args(argv)
    rows: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for protocol in ("all", "base2new"):
            grid = _grid(protocol, ns.jobs, osp.join(tmp, "plan"))
            jobs = plan(grid)
            rows[f"plan_{protocol} ({len(jobs)} jobs, {sum(len(j.runs) for j in jobs)} runs)"] = timed(
                lambda grid=grid: plan(grid), ns.repeats)
        runs = [run for job in jobs for run in job.runs]
        rows[f"status ({len(runs)} runs)"] = timed(lambda: [run_finished(r.output_dir, r.trains) for r in runs],
                                                   ns.repeats)
        tree = osp.join(tmp, "tree")
        count = write_tree(tree, ns.jobs)
        rows[f"find_runs ({count} results.json)"] = timed(lambda: find_runs(tree), ns.repeats)
        rows[f"collect ({count} results.json, 10 tables: md, csv, html)"] = timed(lambda: collect(tree), ns.repeats)
        rows[f"collect --plots ({count} results.json, 10 tables + png)"] = timed(lambda: collect(tree, plots=True),
                                                                               ns.repeats)
    width = max(len(name) for name in rows)
    print(f"{'measure'.ljust(width)} | wall s | CPU s (medians of {ns.repeats})")
    for name, (wall, cpu) in rows.items():
        print(f"{name.ljust(width)} | {wall:6.3f} | {cpu:6.3f}")
    return rows


if __name__ == "__main__":
    main()
