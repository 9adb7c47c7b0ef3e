"""Cross-dataset transfer and domain generalisation, as CoOp/MaPLe run them: train on a source, test elsewhere.

    python -m hgclip.cli.xd train --trainer T SEED            # train on the source (ImageNet, 16 shots)
    python -m hgclip.cli.xd test  --trainer T DATASET SEED    # evaluate that model on DATASET
    python -m hgclip.cli.xd dg    --trainer T [SEED ...]      # train, then ImageNet, -V2, -Sketch, -A, -R; one table

(``bash scripts/xd.sh TRAINER train SEED``, ``... test DATASET SEED`` and ``... dg [SEED ...]`` call these.)
DATASET is a dataset config name (the package's ``configs/datasets/<name>.yaml``) or a YAML file.
Installed or not, everything is written under the current directory (``--output`` defaults to ``./output``).

* Train: ``<output>/xd/train/<source>/shots_<K>/<TRAINER>/<cfg>/seed<S>``, all classes of the source; a
  finished run is not trained again. Its ``results.json`` is the source's own test accuracy.
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
import os
import os.path as osp
from typing import Optional, Sequence

from tabulate import tabulate

from .. import project  # noqa: F401  (registers the trainers under their table names)
from ..common.errors import InputError
from ..common.fileio import atomic_write_json
from ..engine.named_configs import dataset_config as find_dataset_config
from ..engine.named_configs import trainer_config
from ..evaluation.aggregate import average_levels, fmt, load_results
from ..registry import has_parameters
from ..runtime.run_dir import run_finished
from .base2new import run_train

SOURCE = "imagenet"
DG_TARGETS = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")


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


def source_config(trainer: str, source: str) -> str:
    """``CFG`` (a config file, role or name), else the trainer's ``tiny`` config for HierShapes and its
    ``base2new`` config (the 16-shot ViT-B/16 one) for real data (:mod:`hgclip.engine.named_configs`)."""
    embedded = osp.splitext(osp.basename(source))[0] == "hiershapes"
    name = os.environ.get("CFG") or ("tiny" if embedded else "base2new")
    try:
        return trainer_config(trainer, name)
    except InputError as error:
        raise SystemExit(f"{error} (set CFG=<trainer config.yaml>)") from None


def dataset_config(name: str) -> str:
    """A dataset config name (the package's ``configs/datasets/<name>.yaml``) or a YAML file, as an absolute path."""
    try:
        return osp.abspath(find_dataset_config(name))
    except InputError as error:
        raise SystemExit(str(error)) from None


def run_dir(ns: argparse.Namespace, stage: str, dataset: str, config: str, seed: int) -> str:
    cfg_name = osp.splitext(osp.basename(config))[0]
    name = osp.splitext(osp.basename(dataset))[0]  # a name, or a YAML file's
    return osp.join(ns.output, "xd", stage, name, f"shots_{ns.shots}", ns.trainer, cfg_name, f"seed{seed}")


def common_args(ns: argparse.Namespace, dataset: str, config: str, seed: int) -> list[str]:
    return ["--root", ns.root, "--seed", str(seed), "--trainer", ns.trainer,
            "--dataset-config-file", dataset_config(dataset), "--config-file", config]


def train(ns: argparse.Namespace, seed: int) -> str:
    """Train on the source (skipped when finished); return the run directory."""
    config = source_config(ns.trainer, ns.source)
    directory = run_dir(ns, "train", ns.source, config, seed)
    if not has_parameters(ns.trainer):
        print(f"{ns.trainer} has no parameters: nothing to train (xd.sh test evaluates it directly)")
        return ""
    if run_finished(directory):
        print(f"[{ns.trainer} seed {seed}] finished run found in {directory}: skip training", flush=True)
        return directory
    run_train([*common_args(ns, ns.source, config, seed), "--output-dir", directory,
               "DATASET.NUM_SHOTS", str(ns.shots), *ns.opts], ns.verbose, f"{ns.trainer} seed {seed} train on {ns.source}")
    return directory


def test(ns: argparse.Namespace, dataset: str, seed: int) -> dict:
    """Evaluate the source model (or the zero-shot model) on ``dataset``; return its results."""
    config = source_config(ns.trainer, ns.source)
    model_dir = run_dir(ns, "train", ns.source, config, seed)
    directory = run_dir(ns, "test", dataset, config, seed)
    model = []
    if has_parameters(ns.trainer):
        if not run_finished(model_dir):
            raise SystemExit(f"[{ns.trainer} seed {seed}] no trained model in {model_dir}: "
                             f"run scripts/xd.sh {ns.trainer} train {seed} first")
        model = ["--model-dir", model_dir]
    run_train([*common_args(ns, dataset, config, seed), "--output-dir", directory, "--eval-only", *model, *ns.opts],
              ns.verbose, f"{ns.trainer} seed {seed} test on {dataset}")
    return load_results(directory)


def dg(ns: argparse.Namespace, seeds: Sequence[int]) -> str:
    """Train on the source, evaluate on every target, print and save the per-level table."""
    runs: dict[str, list[dict]] = {name: [] for name in (ns.source, *ns.targets)}
    for seed in seeds:
        source_dir = train(ns, seed)
        runs[ns.source].append(load_results(source_dir) if source_dir else test(ns, ns.source, seed))
        for target in ns.targets:
            runs[target].append(test(ns, target, seed))
    per_dataset = {name: average_levels(results) for name, results in runs.items()}
    levels = list(per_dataset[ns.source])
    for name, table in per_dataset.items():
        if list(table) != levels:
            raise SystemExit(f"{name} reports levels {list(table)}, the source {levels}: give every dataset the "
                             "same DATASET.WORDNET settings")
    mean_targets = {level: sum(per_dataset[t][level]["mean"] for t in ns.targets) / len(ns.targets) for level in levels}
    rows = [[name + (" (source)" if name == ns.source else ""), *[fmt(per_dataset[name][lv]["mean"]) for lv in levels]]
            for name in runs]
    rows.append(["mean over targets", *[fmt(mean_targets[lv]) for lv in levels]])
    summary = {"trainer": ns.trainer, "source": ns.source, "targets": list(ns.targets), "shots": ns.shots,
               "seeds": list(seeds), "levels": levels,
               "per_dataset": {name: {lv: per_dataset[name][lv]["mean"] for lv in levels} for name in runs},
               "mean_over_targets": mean_targets}
    config = source_config(ns.trainer, ns.source)
    path = osp.join(ns.output, "xd", "summary", osp.splitext(osp.basename(ns.source))[0], f"shots_{ns.shots}", ns.trainer,
                    osp.splitext(osp.basename(config))[0], "dg_summary.json")
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
    main()
