"""Base-to-new generalisation for one trainer: train on base classes, test on base and new, summarise.

For each seed, as CoCoOp/MaPLe's ``base2new_train.sh`` + ``base2new_test.sh``:

1. ``train.py`` with ``DATASET.SUBSAMPLE_CLASSES base`` into
   ``<output>/base2new/train_base/<dataset>/shots_<K>/<TRAINER>/<cfg>/seed<S>``; its final test
   on the base test split gives the base accuracy. A seed whose run has finished is not
   trained again: its model is re-evaluated on base.
2. ``train.py --eval-only --model-dir <train dir>`` with ``SUBSAMPLE_CLASSES new`` into
   ``.../test_new/...``: the new accuracy.

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
import os
import os.path as osp
import shlex
import subprocess
import sys
import warnings
from collections import deque
from typing import Optional, Sequence

from tabulate import tabulate

from ..common.errors import InputError
from ..common.fileio import atomic_write_json
from ..engine.named_configs import dataset_config, trainer_config
from ..evaluation import metric_spec as spec
from ..evaluation.aggregate import base_new_summary, fmt, load_results
from ..runtime.run_dir import run_finished


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


LAUNCHER = "hgclip.cli.launch"  # torchrun (torch.distributed.run) that exits with the workers' code
TRAIN_MODULE = "hgclip.cli.train"  # train.py's program, from wherever the package is installed


def train_command(args: Sequence[str], environ: Optional[dict] = None) -> list[str]:
    """``python -m hgclip.cli.train args`` (= ``python train.py args``), or with ``NPROC=N`` (N > 1) the same
    through torchrun with N processes (``torchrun ... -m hgclip.cli.train``)."""
    environ = os.environ if environ is None else environ
    value = environ.get("NPROC", "").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"NPROC={value!r}: expected a number of processes >= 1")
    if int(value) == 1:
        return [sys.executable, "-u", "-m", TRAIN_MODULE, *args]
    rendezvous = shlex.split(environ.get("TORCHRUN_ARGS", "")) or ["--standalone"]
    # torchrun's options and behaviour, with the workers' exit code (hgclip.cli.launch)
    return [sys.executable, "-u", "-m", LAUNCHER, *rendezvous, f"--nproc_per_node={value}", "-m", TRAIN_MODULE, *args]


def run_train(args: Sequence[str], verbose: bool, label: str) -> None:
    """Run ``train.py``'s program in a fresh process in the current directory (``NPROC``: torchrun); echo progress
    lines (or everything with --verbose). The echoed command names ``train.py``, the ecosystem's name for it."""
    command = train_command(args)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    head = command[:len(command) - len(args) - 2]  # before "-m hgclip.cli.train"
    launcher = "torchrun " + " ".join(head[head.index(LAUNCHER) + 1:]) if LAUNCHER in head else "python"
    print(f"[{label}] {launcher} train.py {' '.join(args)}", flush=True)
    tail: deque[str] = deque(maxlen=60)
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line)
            if verbose or line.startswith(("epoch [", "* accuracy", "Computing node", "pretraining")):
                print(f"  {line.rstrip()}", flush=True)
        code = process.wait()
    if code != 0:
        sys.stdout.write("".join(tail))
        raise SystemExit(f"[{label}] train.py failed with exit code {code}")


def dataset_name(dataset: str) -> str:
    """The name of ``--dataset`` in output paths: ``hiershapes`` for ``hiershapes`` and ``path/to/hiershapes.yaml``."""
    return osp.splitext(osp.basename(dataset))[0]


def run_seed(ns: argparse.Namespace, seed: int, cfg_name: str) -> tuple[dict, dict]:
    tail = osp.join(dataset_name(ns.dataset), f"shots_{ns.shots}", ns.trainer, cfg_name, f"seed{seed}")
    train_dir = osp.join(ns.output, "base2new", "train_base", tail)
    test_dir = osp.join(ns.output, "base2new", "test_new", tail)
    common = [
        "--root", ns.root, "--seed", str(seed), "--trainer", ns.trainer,
        "--dataset-config-file", ns.dataset_config,
        "--config-file", ns.config,
    ]
    opts = ["DATASET.NUM_SHOTS", str(ns.shots), *ns.opts]
    if run_finished(train_dir):
        print(f"[seed {seed}] found a finished run in {train_dir}: skip training, re-evaluate on base")
        run_train([*common, "--output-dir", train_dir, "--eval-only", "--model-dir", train_dir,
                   *opts, "DATASET.SUBSAMPLE_CLASSES", "base"], ns.verbose, f"seed {seed} base")
    else:
        run_train([*common, "--output-dir", train_dir, *opts, "DATASET.SUBSAMPLE_CLASSES", "base"],
                  ns.verbose, f"seed {seed} train on base")
    run_train([*common, "--output-dir", test_dir, "--eval-only", "--model-dir", train_dir,
               *opts, "DATASET.SUBSAMPLE_CLASSES", "new"], ns.verbose, f"seed {seed} test on new")
    return load_results(train_dir), load_results(test_dir)


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
        from .. import project  # noqa: F401
    name = ns.config or ("tiny" if dataset_name(ns.dataset) == "hiershapes" else "base2new")
    try:
        ns.config = trainer_config(ns.trainer, name)
        ns.dataset_config = osp.abspath(dataset_config(ns.dataset))
    except InputError as error:
        raise SystemExit(str(error)) from None
    cfg_name = osp.splitext(osp.basename(ns.config))[0]
    pairs = [run_seed(ns, seed, cfg_name) for seed in ns.seeds]
    summary = base_new_summary([base for base, _ in pairs], [new for _, new in pairs])
    summary.update(trainer=ns.trainer, dataset=dataset_name(ns.dataset), config=cfg_name, shots=ns.shots, seeds=list(ns.seeds))
    out_dir = osp.join(ns.output, "base2new", "summary", dataset_name(ns.dataset), f"shots_{ns.shots}", ns.trainer, cfg_name)
    path = osp.join(out_dir, "summary.json")
    atomic_write_json(path, summary)
    seeds = ", ".join(map(str, ns.seeds))
    print(f"\n{ns.trainer} on {dataset_name(ns.dataset)}, base-to-new, {ns.shots} shots, top-1 per level, full-path "
          f"accuracy and HCA (%), averaged over seeds {seeds}:")
    print(render(summary))
    print(f"summary: {path}")
    return path


if __name__ == "__main__":
    main()
