"""Base-to-new generalisation for one trainer: train on base classes, test on base and new, summarise.

A front-end of the grid runner (:mod:`hgclip.cli.sweep`): the grid is one dataset x one trainer x the seeds in
the ``base2new`` protocol, run by the local executor in order, its output streamed. For each seed, as
CoCoOp/MaPLe's ``base2new_train.sh`` + ``base2new_test.sh`` (:mod:`hgclip.cli.sweep_plan`):

1. ``train.py`` with ``DATASET.SUBSAMPLE_CLASSES base`` into
   ``<output>/base2new/train_base/<dataset>/shots_<K>/<TRAINER>/<cfg>/seed<S>``; its final test
   on the base test split gives the base accuracy.
2. ``train.py --eval-only --model-dir <train dir>`` with ``SUBSAMPLE_CLASSES new`` into
   ``.../test_new/...``: the new accuracy.

A finished run is not run again when it was made with the same config and inputs
(:mod:`hgclip.cli.run_reuse`; else one line says what differs and nothing runs).

Then per level (and for full-path accuracy and HCA): base and new averaged over seeds, and
HM = 2BN/(B+N) of the averages.
The trainer's config is ``--config`` (a file, or a role or name of its ``CONFIGS``,
:mod:`hgclip.engine.named_configs`), by default its ``tiny`` config on hiershapes and its ``base2new`` config
(the method's published 16-shot ViT-B/16 one) elsewhere.
The table is printed, ``summary.json`` written, and the last line is ``summary: <path>``.

``NPROC=N`` runs every ``train.py`` through ``torchrun --standalone --nproc_per_node N``
(``TORCHRUN_ARGS`` replaces ``--standalone``, e.g. with the rendezvous options of a multi-node run).

Installed or not, it writes only under the current directory (``--root`` and ``--output`` default to
``./data`` and ``./output``): each run is ``python -m hgclip.cli.train`` in a process started here, and the
configs are read from the package.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os.path as osp
import sys
import warnings
from typing import Optional, Sequence

from tabulate import tabulate

from ..common.fileio import atomic_write_json
from ..evaluation import metric_spec as spec
from ..evaluation.aggregate import base_new_summary, fmt, load_results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainer", required=True, help="registered trainer name, e.g. HGCLIP")
    parser.add_argument("--dataset", default="hiershapes",
                        help="dataset config: a name (the package's configs/datasets/<name>.yaml) or a YAML file")
    parser.add_argument("--config", default="",
                        help="the trainer's config: a role (tiny, base2new, paper), a config name or a YAML file "
                             "(default: tiny on hiershapes, else base2new)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--root", default="data", help="DATASET.ROOT (default: ./data)")
    parser.add_argument("--output", default="output", help="output root (default: ./output)")
    parser.add_argument("--verbose", action="store_true", help="show the full output of every run")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="extra config options (KEY VALUE ...)")
    return parser


def render(summary: dict) -> str:
    rows = [
        [level, fmt(values["base"]), fmt(values["new"]), fmt(values["hm"])]
        for level, values in summary["per_level"].items()
    ]
    for metric in spec.BASE_NEW_METRICS:  # full path, HCA
        if metric.summary_key in summary:
            row = summary[metric.summary_key]
            rows.append([metric.label, fmt(row["base"]), fmt(row["new"]), fmt(row["hm"])])
    return tabulate(rows, headers=["level", "base", "new", "HM"], tablefmt="github")


def main(argv: Optional[Sequence[str]] = None) -> str:
    ns = build_parser().parse_args(argv)
    # registering the trainers' table names: its import-time warnings and notes belong to train.py's own log
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from .sweep import run_here
        from .sweep_job import options_from_env
        from .sweep_plan import Grid, dataset_name, plan
    grid = Grid(protocol="base2new", datasets=[ns.dataset], cells=[ns.trainer], seeds=list(ns.seeds), root=ns.root,
                output=ns.output, opts=list(ns.opts), shots=ns.shots, config=ns.config)
    jobs = plan(grid)
    run_here(jobs, options_from_env(verbose=ns.verbose, progress=True, job_in_label=False))
    summary = base_new_summary([load_results(job.runs[0].output_dir) for job in jobs],
                               [load_results(job.runs[1].output_dir) for job in jobs])
    dataset, cfg_name = dataset_name(ns.dataset), jobs[0].config
    summary.update(trainer=ns.trainer, dataset=dataset, config=cfg_name, shots=ns.shots, seeds=list(ns.seeds))
    out_dir = osp.join(ns.output, "base2new", "summary", dataset, f"shots_{ns.shots}", ns.trainer, cfg_name)
    path = osp.join(out_dir, "summary.json")
    atomic_write_json(path, summary)
    seeds = ", ".join(map(str, ns.seeds))
    print(f"\n{ns.trainer} on {dataset}, base-to-new, {ns.shots} shots, top-1 per level, full-path "
          f"accuracy and HCA (%), averaged over seeds {seeds}:")
    print(render(summary))
    print(f"summary: {path}")
    return path


if __name__ == "__main__":
    from .grid import console

    sys.exit(console(main))
