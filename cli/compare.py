"""Compare trainers on one dataset in the HGCLIP paper's protocol (Table 1): top-1 per hierarchy level.

    python -m hgclip.cli.compare [DATASET] [TRAINER ...] [SEED ...] [-- KEY VALUE ...]

* ``DATASET``: a ``configs/datasets/<name>.yaml`` (default ``hiershapes``, the embedded default).
* ``TRAINER``: registered trainer names (default: every registered trainer, ``hgclip.registry.list_trainers()``;
  columns always follow the registry's table order: ZeroshotCLIP, CoOp, CoCoOp, VPT, MaPLe, KgCoOp,
  PromptSRC, IVLP, HGCLIP, then any other registered trainer), or ``TRAINER+VARIANT`` cells such as
  ``MaPLe+ProTeCt``: the trainer with the config keys of ``<VARIANT>.yaml`` (one column each, right after
  the trainer's own), found in the folders given with ``--variants DIR`` (or ``HGCLIP_VARIANTS``, folders
  separated by ``:``), in that order, then in the package's ``configs/variants/``. A variant may not set a
  key of the comparison's protocol (shots, class subset, seed, dataset: one line says which), and a cell whose
  variant changes nothing for its trainer (``ZeroshotCLIP+ProTeCt``: ZeroshotCLIP does not train) is refused
  instead of repeating the trainer's column.
* ``SEED``: integers (default 1).
* after ``--``: config options passed to every run.

Protocol: train and test on all classes (``DATASET.SUBSAMPLE_CLASSES all``) with
``DATASET.NUM_SHOTS`` = ``--shots`` (16 on hiershapes to stay fast, -1 = the full training set
otherwise, as in the paper). Config per trainer (its ``CONFIGS``, :mod:`hgclip.engine.named_configs`):
hiershapes -> its ``tiny`` config; other datasets -> its ``paper`` config (``vit_b16_ep50_paper.yaml``; zero-shot:
``vit_b16.yaml``); the environment variable ``CFG_<TRAINER>`` (e.g. ``CFG_CoOp`` or ``CFG_COOP``: a config
file, or a config name or role of the trainer) overrides it.

A front-end of the grid runner (:mod:`hgclip.cli.sweep`): the comparison is the grid dataset x cells x seeds in
protocol ``all``, run by the local executor in order, its output streamed. Each trainer x seed runs ``train.py``
in its own process into ``<output>/compare/<dataset>/<TRAINER>/<cfg>/seed<S>``; a finished run (``results.json``, plus
``prompt_learner/checkpoint`` for trainable trainers) is not run again, provided its results.json
reports the same class subset, shots, seed and backbone, its recorded config.yaml agrees on every
result-changing key and its inputs.json on the contents of the hierarchy, images and CLIP weights
(:mod:`hgclip.cli.run_reuse`; else it stops: delete the run or change OUTPUT). A failed run does not stop the
others: the report is written from what finished and the exit status is 1.
Writes ``comparison.md``, ``comparison.csv``, ``comparison.png`` and ``comparison.html`` into ``<output>/compare/<dataset>/``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..common.config_io import flatten
from ..evaluation.aggregate import compare_summary, load_results
from ..evaluation.comparison_report import comparison_markdown, write_reports
from ..registry import has_parameters, list_trainers
from ..runtime.run_dir import run_finished
from . import grid, sweep_plan
from .grid import (  # noqa: F401  (the comparison's vocabulary, also read as compare.<name>)
    CONFIG_DIR,
    EMBEDDED,
    EMBEDDED_SHOTS,
    PAPER_ORDER,
    VARIANT_DIR,
    Refusal,
    StaleRunError,
    available_datasets,
    available_variants,
    config_for,
    paper_order,
    run_dir_for,
    split_cell,
    variant_options,
)
from .run_reuse import expected_config
from .sweep import run_here
from .sweep_job import options_from_env


@dataclass
class Plan:
    """What to run: parsed from the command line."""

    dataset: str
    trainers: list[str]
    seeds: list[int]
    opts: list[str] = field(default_factory=list)


def registered_trainers() -> list[str]:
    """The registered hierarchical trainers (hgclip.registry.list_trainers)."""
    return list_trainers()


#: Key prefixes that only change training: a variant made of them changes nothing for a trainer without parameters.
TRAINING_ONLY_PREFIXES = ("OPTIM.", "LOSS.", "TRAIN.", "DATALOADER.TRAIN_X.")


def check_variant_changes_its_trainer(cell: str, with_variant: Any, without: Any) -> None:
    """Refuse a ``TRAINER+VARIANT`` cell whose variant would change nothing for that trainer (a repeated column)."""
    trainer = split_cell(cell)[0]
    before, after = flatten(without), flatten(with_variant)
    changed = [key for key in after if after[key] != before.get(key)]
    if not has_parameters(trainer):
        changed = [key for key in changed if not key.startswith(TRAINING_ONLY_PREFIXES)]
    if not changed:
        why = " (it does not train, and the variant sets only training keys)" if not has_parameters(trainer) else ""
        raise Refusal(f"{cell}: the variant changes nothing for {trainer}{why}, so its column would repeat "
                         f"{trainer}'s; drop the cell")


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True


def _is_cell(token: str, registered: Sequence[str], variants: Sequence[str]) -> bool:
    """``TRAINER+VARIANT`` of a registered trainer; an unknown variant stops with the list of known ones."""
    trainer, variant = split_cell(token)
    if not variant or trainer not in registered:
        return False
    if variant not in variants:
        raise Refusal(f"unknown variant {variant!r} in {token!r}: expected one of {', '.join(variants) or 'none'} "
                         f"(<name>.yaml in --variants DIR, HGCLIP_VARIANTS or the package's configs/variants/)")
    return True


def parse_plan(tokens: Sequence[str], registered: Sequence[str], datasets: Sequence[str],
               variants: Sequence[str] = ()) -> Plan:
    """``[DATASET] [TRAINER|TRAINER+VARIANT ...] [SEED ...] [-- KEY VALUE ...]`` -> Plan, with one-line errors."""
    tokens = list(tokens)
    opts: list[str] = []
    if "--" in tokens:
        cut = tokens.index("--")
        tokens, opts = tokens[:cut], tokens[cut + 1:]
    if len(opts) % 2:
        raise Refusal(f"options after '--' must be KEY VALUE pairs, got {len(opts)} items: {' '.join(opts)}")
    dataset = EMBEDDED
    if tokens and tokens[0] in datasets and tokens[0] not in registered:
        dataset = tokens.pop(0)
    trainers: list[str] = []
    seeds: list[int] = []
    for token in tokens:
        if _is_int(token):
            if int(token) in seeds:
                raise Refusal(f"seed {token} given twice")
            seeds.append(int(token))
        elif token in registered or _is_cell(token, registered, variants):
            if seeds:
                raise Refusal(f"trainer {token!r} after the seeds: give DATASET, then TRAINERS, then SEEDS")
            if token not in trainers:
                trainers.append(token)
        elif token in datasets:
            raise Refusal(f"dataset {token!r} must be the first argument")
        else:
            raise Refusal(
                f"unknown argument {token!r}: not a dataset ({', '.join(datasets)}), "
                f"a registered trainer ({', '.join(paper_order(registered))}), TRAINER+VARIANT "
                f"({', '.join(variants) or 'no variants'}) or an integer seed"
            )
    if not trainers:
        trainers = [n for n in PAPER_ORDER if n in registered]
    return Plan(dataset=dataset, trainers=paper_order(trainers), seeds=seeds or [1], opts=opts)


def train_args(ns: argparse.Namespace, plan: Plan, cell: str, config: str, seed: int, with_variant: bool = True) -> list[str]:
    """The ``train.py`` command line of one cell (trainer or TRAINER+VARIANT) x seed (``with_variant`` False: without
    the variant's keys)."""
    variant = split_cell(cell)[1] if with_variant else ""
    return sweep_plan.all_classes_argv(ns.root, ns.output, plan.dataset, cell, config, seed, ns.shots,
                                       [*variant_options(variant, getattr(ns, "variant_files", None)), *plan.opts])


def plan_jobs(ns: argparse.Namespace, plan: Plan) -> list:
    """The comparison as a grid of the runner (:mod:`hgclip.cli.sweep_plan`, protocol ``all``): one job per cell and
    seed, with :func:`train_args`'s command line."""
    grid_of_runs = sweep_plan.Grid(protocol="all", datasets=[plan.dataset], cells=list(plan.trainers),
                                   seeds=list(plan.seeds), root=ns.root, output=ns.output, opts=list(plan.opts),
                                   shots=ns.shots, variant_files=ns.variant_files)
    return sweep_plan.plan(grid_of_runs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokens", nargs="*", metavar="[DATASET] [TRAINER ...] [SEED ...]")
    parser.add_argument("--root", default=os.environ.get("DATA") or "data", help="DATASET.ROOT (default: $DATA, else ./data)")
    parser.add_argument("--output", default=os.environ.get("OUTPUT") or "output",
                        help="output root (default: $OUTPUT, else ./output)")
    parser.add_argument("--shots", type=int, default=None,
                        help=f"DATASET.NUM_SHOTS (default: env SHOTS, else {EMBEDDED_SHOTS} on {EMBEDDED}, -1 otherwise)")
    parser.add_argument("--variants", action="append", default=[], metavar="DIR",
                        help="a folder of variant YAML files for TRAINER+VARIANT cells (repeatable; searched before "
                             "HGCLIP_VARIANTS and the package's configs/variants/)")
    parser.add_argument("--no-run", action="store_true", help="only summarise the runs that have finished")
    parser.add_argument("--verbose", action="store_true", help="show the full output of every run")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> dict[str, str]:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts: list[str] = []
    if "--" in argv:  # everything after '--' is config options, never flags for this script
        cut = argv.index("--")
        argv, opts = argv[:cut], argv[cut:]
    ns = build_parser().parse_intermixed_args(argv)
    ns.variant_files = available_variants(ns.variants)
    plan = parse_plan([*ns.tokens, *opts], registered_trainers(), available_datasets(), list(ns.variant_files))
    if ns.shots is None:
        env = os.environ.get("SHOTS")
        ns.shots = int(env) if env else (EMBEDDED_SHOTS if plan.dataset == EMBEDDED else -1)
    ns.root, ns.output = osp.abspath(ns.root), osp.abspath(ns.output)
    configs = {trainer: config_for(trainer, plan.dataset) for trainer in plan.trainers}  # fail before any run
    for cell in plan.trainers:  # a variant's keys are checked before any run too
        if split_cell(cell)[1]:
            args = [train_args(ns, plan, cell, configs[cell], plan.seeds[0], with_variant=use) for use in (True, False)]
            check_variant_changes_its_trainer(cell, expected_config(args[0]), expected_config(args[1]))

    seeds = ", ".join(map(str, plan.seeds))
    print(f"Comparing {', '.join(plan.trainers)} on {plan.dataset} (all classes, shots {ns.shots}, seeds {seeds})")
    jobs = plan_jobs(ns, plan)
    failures: list[str] = []
    if ns.no_run:
        for job in jobs:
            run = job.runs[0]
            if not run_finished(run.output_dir, run.trains):
                failures.append(f"[{run.label}] no finished run in {run.output_dir}")
                print(failures[-1], flush=True)
        jobs = [job for job in jobs if run_finished(job.runs[0].output_dir, job.runs[0].trains)]
    failures += run_here(jobs, options_from_env(verbose=ns.verbose, progress=True, job_in_label=False),
                         keep_going=True).values()  # one failed run must not throw away the others
    runs: dict[str, list[dict]] = {trainer: [] for trainer in plan.trainers}
    for job in jobs:
        if run_finished(job.runs[0].output_dir, job.runs[0].trains):
            runs[job.cell].append(load_results(job.runs[0].output_dir))
    if not any(runs.values()):
        raise SystemExit("no run finished; nothing to compare\n" + "\n".join(failures))

    cfg_names = {t: osp.splitext(osp.basename(c))[0] for t, c in configs.items()}
    comparison = compare_summary(plan.dataset, runs, cfg_names)
    out_dir = osp.join(ns.output, "compare", plan.dataset)
    paths = write_reports(comparison, out_dir)
    print(f"\n{plan.dataset}: top-1 (%) per level and tree metrics, all classes, shots {ns.shots}, seeds {seeds}\n")
    print(comparison_markdown([comparison]))
    for ext in ("md", "csv", "png", "html"):
        print(f"{ext}: {paths[ext]}")
    if failures:
        missing = [t for t in plan.trainers if not runs[t]]
        print(f"\n{len(failures)} run(s) failed" + (f"; no column for {', '.join(missing)}" if missing else ""))
        for failure in failures:
            print(f"  {failure}")
        raise SystemExit(1)
    return paths


def console(argv: Optional[Sequence[str]] = None) -> int:
    """The command line: a refusal is ``error: <message>`` on stderr and exit code 2."""
    return grid.console(main, argv)


if __name__ == "__main__":
    sys.exit(console())
