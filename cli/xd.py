"""Cross-dataset transfer and domain generalisation, as CoOp/MaPLe run them: train on a source, test elsewhere.

    python -m hgclip.cli.xd train --trainer T SEED            # train on the source (ImageNet, 16 shots)
    python -m hgclip.cli.xd test  --trainer T DATASET SEED    # evaluate that model on DATASET
    python -m hgclip.cli.xd dg    --trainer T [SEED ...]      # train, then ImageNet, -V2, -Sketch, -A, -R; one table

(``bash scripts/xd.sh TRAINER train SEED``, ``... test DATASET SEED`` and ``... dg [SEED ...]`` call these.)
DATASET is a dataset config name (the package's ``configs/datasets/<name>.yaml``) or a YAML file.
Installed or not, everything is written under the current directory (``--output`` defaults to ``./output``).

A front-end of the grid runner (:mod:`hgclip.cli.sweep`): each command is the ``xd``/``dg`` job of the trainer and
seed (:mod:`hgclip.cli.sweep_plan`), or one run of it, run by the local executor in order, its output streamed.
A finished run is not run again when it was made with the same config and inputs (:mod:`hgclip.cli.run_reuse`).

* Train: ``<output>/xd/train/<source>/shots_<K>/<TRAINER>/<cfg>/seed<S>``, all classes of the source. Its
  ``results.json`` is the source's own test accuracy.
* Test: ``train.py --eval-only --model-dir <train dir>`` into ``<output>/xd/test/<dataset>/...``: the target's
  classes and hierarchy are used (checkpoints hold no class-dependent tensor). HGCLIP's prototypes are
  the source model's (its ``prototypes.pt``, mapped to the target's nodes by name); the target's images
  are only ever read to be classified. A trainer without parameters (ZeroshotCLIP) is evaluated directly.
* Config: ``CFG`` (a trainer config file, or a config name or role of the trainer), else the trainer's
  ``base2new`` config (its 16-shot ViT-B/16 one), or its ``tiny`` config when the source is ``hiershapes``
  (the trainer's ``CONFIGS``, :mod:`hgclip.engine.named_configs`).
* ``dg`` prints the top-1 of every level for the source and each target (seed means) and the mean over
  the shifted targets, writes ``dg_summary.json`` and ends with ``summary: <path>``.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import os.path as osp
import sys
from typing import Optional, Sequence

from tabulate import tabulate

from ..common.fileio import atomic_write_json
from ..evaluation.aggregate import average_levels, fmt, load_results
from ..registry import has_parameters
from ..runtime.run_dir import run_finished
from .grid import DG_TARGETS, SOURCE
from .sweep import run_here
from .sweep_job import options_from_env
from .sweep_plan import Grid, Job, dataset_name, plan


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("train", "test", "dg"))
    parser.add_argument("args", nargs="*", help="train: SEED; test: DATASET SEED; dg: [SEED ...]")
    parser.add_argument("--trainer", default="HGCLIP")
    parser.add_argument("--source", default=os.environ.get("SOURCE", SOURCE), help="source dataset config name")
    parser.add_argument("--targets", nargs="+", default=list(DG_TARGETS), help="dg targets (dataset config names)")
    parser.add_argument("--shots", type=int, default=int(os.environ.get("SHOTS", 16)))
    parser.add_argument("--root", default=os.environ.get("DATA") or "data", help="DATASET.ROOT (default: $DATA, else ./data)")
    parser.add_argument("--output", default=os.environ.get("OUTPUT") or "output",
                        help="output root (default: $OUTPUT, else ./output)")
    parser.add_argument("--verbose", action="store_true", help="show the full output of every run")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config options for every run")
    return parser


def jobs_for(ns: argparse.Namespace, protocol: str, targets: Sequence[str], seeds: Sequence[int]) -> list[Job]:
    """The runner's jobs of this trainer: train on the source, then evaluate on ``targets`` (per seed)."""
    grid = Grid(protocol=protocol, datasets=list(targets), cells=[ns.trainer], seeds=list(seeds), root=ns.root,
                output=ns.output, opts=list(ns.opts), shots=ns.shots, source=ns.source)
    return plan(grid)


def run(ns: argparse.Namespace, jobs: Sequence[Job]) -> None:
    run_here(jobs, options_from_env(verbose=ns.verbose, progress=True, job_in_label=False))


def train(ns: argparse.Namespace, seed: int) -> str:
    """Train on the source (a finished run is reused); return the run directory."""
    if not has_parameters(ns.trainer):
        print(f"{ns.trainer} has no parameters: nothing to train (xd.sh test evaluates it directly)")
        return ""
    job = jobs_for(ns, "xd", [ns.source], [seed])[0]
    run(ns, [dataclasses.replace(job, runs=job.runs[:1])])
    return job.runs[0].output_dir


def test(ns: argparse.Namespace, dataset: str, seed: int) -> dict:
    """Evaluate the source model (or the zero-shot model) on ``dataset``; return its results."""
    job = jobs_for(ns, "xd", [dataset], [seed])[0]
    evaluation = job.runs[-1]
    if has_parameters(ns.trainer) and not run_finished(job.runs[0].output_dir):
        raise SystemExit(f"[{ns.trainer} seed {seed}] no trained model in {job.runs[0].output_dir}: "
                         f"run scripts/xd.sh {ns.trainer} train {seed} first")
    run(ns, [dataclasses.replace(job, runs=(evaluation,))])
    return load_results(evaluation.output_dir)


def dg(ns: argparse.Namespace, seeds: Sequence[int]) -> str:
    """Train on the source, evaluate on every target, print and save the per-level table."""
    jobs = jobs_for(ns, "dg", ns.targets, seeds)
    run(ns, jobs)
    source = dataset_name(ns.source)
    names = [source] + [dataset_name(t) for t in ns.targets if t != ns.source]  # each job's runs, in order
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for job in jobs:
        for name, one in zip(names, job.runs):
            runs[name].append(load_results(one.output_dir))
    per_dataset = {name: average_levels(results) for name, results in runs.items()}
    levels = list(per_dataset[source])
    for name, table in per_dataset.items():
        if list(table) != levels:
            raise SystemExit(f"{name} reports levels {list(table)}, the source {levels}: give every dataset the "
                             "same DATASET.WORDNET settings")
    targets = names[1:]
    mean_targets = {level: sum(per_dataset[t][level]["mean"] for t in targets) / len(targets) for level in levels}
    rows = [[name + (" (source)" if name == source else ""), *[fmt(per_dataset[name][lv]["mean"]) for lv in levels]]
            for name in runs]
    rows.append(["mean over targets", *[fmt(mean_targets[lv]) for lv in levels]])
    summary = {"trainer": ns.trainer, "source": ns.source, "targets": list(ns.targets), "shots": ns.shots,
               "seeds": list(seeds), "levels": levels,
               "per_dataset": {name: {lv: per_dataset[name][lv]["mean"] for lv in levels} for name in runs},
               "mean_over_targets": mean_targets}
    path = osp.join(ns.output, "xd", "summary", source, f"shots_{ns.shots}", ns.trainer, jobs[0].config,
                    "dg_summary.json")
    atomic_write_json(path, summary)
    seeds_text = ", ".join(map(str, seeds))
    print(f"\n{ns.trainer}: trained on {ns.source} ({ns.shots} shots), top-1 (%) per level, mean over seeds {seeds_text}:")
    print(tabulate(rows, headers=["dataset", *levels], tablefmt="github"))
    print(f"summary: {path}")
    return path


def _ints(values: Sequence[str], what: str) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise SystemExit(f"{what}: expected integer seeds, got {' '.join(values)}") from None


def main(argv: Optional[Sequence[str]] = None) -> None:
    ns = build_parser().parse_args(argv)
    if ns.command == "train":
        if len(ns.args) != 1:
            raise SystemExit("usage: xd.py train --trainer T SEED")
        train(ns, _ints(ns.args, "train")[0])
    elif ns.command == "test":
        if len(ns.args) != 2:
            raise SystemExit("usage: xd.py test --trainer T DATASET SEED")
        test(ns, ns.args[0], _ints(ns.args[1:], "test")[0])
    else:
        dg(ns, _ints(ns.args, "dg") or [1])


if __name__ == "__main__":
    from .grid import console

    sys.exit(console(main))
