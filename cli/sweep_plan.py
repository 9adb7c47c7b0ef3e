"""Plan a sweep: a grid (datasets x cells x seeds, one protocol) -> jobs, each a chain of ``train.py`` runs.

Pure: it starts nothing and reads no run directory (config files are only located, variant files read once
per variant), so a grid of thousands of jobs plans in a fraction of a second and is unit-tested without
running anything. :mod:`hgclip.cli.sweep_job` runs a job, :mod:`hgclip.cli.sweep` submits them.

A job is a chain because its evaluations need its training: base-to-new trains on base classes and
tests on new ones; xd/dg train on the source and test every target. One job running its chain in order
needs no scheduler dependency, so the same job runs under any executor. The directories and ``train.py``
command lines are those of ``compare`` (protocol ``all``), ``base2new`` and ``xd`` (``xd``/``dg``), so a
sweep and those tools find each other's finished runs.
"""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional, Sequence

from ..common.errors import InputError
from ..engine.named_configs import dataset_config, trainer_config
from ..registry import has_parameters
from . import grid as cells
from .grid import DG_TARGETS, SOURCE, split_cell

PROTOCOLS = ("base2new", "all", "xd", "dg")
EMBEDDED = cells.EMBEDDED  # hiershapes: the embedded default, with each trainer's tiny config


@dataclass(frozen=True)
class Run:
    """One ``train.py`` process: its command line and output directory."""

    label: str
    output_dir: str
    argv: tuple[str, ...]
    trainer: str
    trains: bool  # it saves a model (a finished run then also has its checkpoint)


@dataclass(frozen=True)
class Job:
    """What one scheduler job does: its runs, in order (each evaluation after the training it loads)."""

    name: str  # unique in a sweep; a relative path: <protocol>/<dataset>/<cell>/<cfg>/seed<S>
    protocol: str
    dataset: str
    cell: str
    config: str
    seed: int
    runs: tuple[Run, ...]

    @property
    def dependencies(self) -> dict[int, int]:
        """Run index -> the index of the training run it waits for (evaluations loading a model)."""
        deps = {}
        for i, run in enumerate(self.runs):
            if "--model-dir" in run.argv:
                model = run.argv[run.argv.index("--model-dir") + 1]
                deps[i] = next(j for j, other in enumerate(self.runs) if other.output_dir == model)
        return deps


@dataclass
class Grid:
    """A sweep's grid, as the command line gives it."""

    protocol: str
    datasets: list[str]
    cells: list[str]
    seeds: list[int]
    root: str
    output: str
    opts: list[str] = field(default_factory=list)
    shots: Optional[int] = None  # None: the protocol's default (see default_shots)
    source: str = SOURCE  # xd/dg: the dataset trained on
    config: str = ""  # a config role, name or file for every cell (default: the protocol's role)
    variant_files: dict[str, str] = field(default_factory=dict)  # variant name -> YAML file


def default_shots(protocol: str, dataset: str) -> int:
    """compare: 16 on hiershapes, -1 (all images) otherwise; base-to-new and xd/dg: 16."""
    if protocol == "all":
        return cells.EMBEDDED_SHOTS if dataset == EMBEDDED else -1
    return 16


@lru_cache(maxsize=None)
def dataset_file(dataset: str) -> str:
    """A dataset config name (the package's ``configs/datasets/<name>.yaml``) or a YAML file, as an absolute path."""
    try:
        return osp.abspath(dataset_config(dataset))
    except InputError:
        raise SystemExit(f"unknown dataset {dataset!r}: expected a YAML file or one of "
                         f"{', '.join(cells.available_datasets())}") from None


def dataset_name(dataset: str) -> str:
    """The name of a dataset in run directories and tables: ``hiershapes`` for ``hiershapes`` and ``path/hiershapes.yaml``."""
    return osp.splitext(osp.basename(dataset))[0]


@lru_cache(maxsize=None)
def _config(trainer: str, name: str) -> str:
    try:
        return trainer_config(trainer, name)
    except InputError as error:
        raise SystemExit(f"{trainer}: {error}") from None


def config_for(grid: Grid, cell: str, dataset: str) -> str:  # dataset: its name
    """The trainer's config file: ``--config``, else what the protocol's own tool uses (compare: ``CFG_<TRAINER>``,
    tiny/paper; base2new: tiny/base2new; xd/dg: ``CFG``, tiny/base2new by source)."""
    trainer = split_cell(cell)[0]
    if grid.config:
        return _config(trainer, grid.config)
    if grid.protocol == "all":
        override = os.environ.get(f"CFG_{trainer}") or os.environ.get(f"CFG_{trainer.upper()}") or ""
        return _compare_config(trainer, dataset != EMBEDDED, override)
    return _config(trainer, os.environ.get("CFG") or ("tiny" if dataset == EMBEDDED else "base2new"))


@lru_cache(maxsize=None)
def _compare_config(trainer: str, paper: bool, override: str) -> str:
    """cells.config_for, once per trainer, kind of dataset and ``CFG_<TRAINER>`` value."""
    environ = {f"CFG_{trainer}": override} if override else {}
    return cells.config_for(trainer, "cifar100" if paper else EMBEDDED, environ)


@lru_cache(maxsize=None)
def _variant_options(variant: str, path: str) -> tuple[str, ...]:
    return tuple(cells.variant_options(variant, {variant: path}))


def variant_options(grid: Grid, cell: str) -> list[str]:
    variant = split_cell(cell)[1]
    if not variant:
        return []
    if variant not in grid.variant_files:
        raise SystemExit(f"unknown variant {variant!r} in {cell!r}: expected one of "
                         f"{', '.join(grid.variant_files) or 'none'}")
    return list(_variant_options(variant, grid.variant_files[variant]))


def _stem(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def _common(root: str, trainer: str, dataset: str, config: str, seed: int) -> list[str]:
    return ["--root", root, "--seed", str(seed), "--trainer", trainer,
            "--dataset-config-file", dataset_file(dataset), "--config-file", config]


def all_classes_argv(root: str, output: str, dataset: str, cell: str, config: str, seed: int, shots: int,
                     options: Sequence[str]) -> list[str]:
    """compare's ``train.py`` command line of one cell x seed (all classes; ``options``: the variant's, then the
    grid's)."""
    return [*_common(root, split_cell(cell)[0], dataset, config, seed),
            "--output-dir", cells.run_dir_for(output, dataset_name(dataset), cell, config, seed),
            "DATASET.NUM_SHOTS", str(shots), "DATASET.SUBSAMPLE_CLASSES", "all", *options]


def _all_job(grid: Grid, dataset: str, cell: str, seed: int) -> Job:
    """compare's run: all classes, one training (its final test is the result)."""
    trainer, name = split_cell(cell)[0], dataset_name(dataset)
    config = config_for(grid, cell, name)
    shots = grid.shots if grid.shots is not None else default_shots("all", name)
    argv = all_classes_argv(grid.root, grid.output, dataset, cell, config, seed, shots,
                            [*variant_options(grid, cell), *grid.opts])
    run = Run(f"{cell} seed {seed}", argv[argv.index("--output-dir") + 1], tuple(argv), trainer, has_parameters(trainer))
    return Job(f"all/{name}/{cell}/{_stem(config)}/seed{seed}", "all", name, cell, _stem(config), seed, (run,))


def _base2new_job(grid: Grid, dataset: str, cell: str, seed: int) -> Job:
    """base2new's runs: train on base classes (its final test is the base accuracy), then test on new ones."""
    trainer, name = split_cell(cell)[0], dataset_name(dataset)
    config = config_for(grid, cell, name)
    shots = grid.shots if grid.shots is not None else default_shots("base2new", name)
    tail = osp.join(name, f"shots_{shots}", cell, _stem(config), f"seed{seed}")
    train_dir = osp.join(grid.output, "base2new", "train_base", tail)
    test_dir = osp.join(grid.output, "base2new", "test_new", tail)
    common = _common(grid.root, trainer, dataset, config, seed)
    opts = ["DATASET.NUM_SHOTS", str(shots), *variant_options(grid, cell), *grid.opts]
    trains = has_parameters(trainer)
    model = ["--model-dir", train_dir] if trains else []
    runs = (Run(f"seed {seed} train on base", train_dir,
                tuple([*common, "--output-dir", train_dir, *opts, "DATASET.SUBSAMPLE_CLASSES", "base"]), trainer, trains),
            Run(f"seed {seed} test on new", test_dir,
                tuple([*common, "--output-dir", test_dir, "--eval-only", *model, *opts,
                       "DATASET.SUBSAMPLE_CLASSES", "new"]), trainer, False))
    return Job(f"base2new/{name}/{cell}/{_stem(config)}/seed{seed}", "base2new", name, cell, _stem(config), seed, runs)


def _transfer_job(grid: Grid, cell: str, seed: int, targets: Sequence[str]) -> Job:
    """xd's runs: train on the source (a zero-shot trainer: evaluate on it), then evaluate on every target."""
    trainer, source = split_cell(cell)[0], dataset_name(grid.source)
    config = config_for(grid, cell, source)
    shots = grid.shots if grid.shots is not None else default_shots(grid.protocol, source)
    variant = variant_options(grid, cell)

    def directory(stage: str, dataset: str) -> str:
        return osp.join(grid.output, "xd", stage, dataset_name(dataset), f"shots_{shots}", cell, _stem(config),
                        f"seed{seed}")

    train_dir = directory("train", grid.source)
    trains = has_parameters(trainer)
    runs = []
    if trains:
        runs.append(Run(f"{cell} seed {seed} train on {grid.source}", train_dir,
                        tuple([*_common(grid.root, trainer, grid.source, config, seed), "--output-dir", train_dir,
                               "DATASET.NUM_SHOTS", str(shots), *variant, *grid.opts]), trainer, True))
    model = ["--model-dir", train_dir] if trains else []
    for target in ([] if trains else [grid.source]) + [t for t in targets if trains or t != grid.source]:
        out = directory("test", target)
        runs.append(Run(f"{cell} seed {seed} test on {target}", out,
                        tuple([*_common(grid.root, trainer, target, config, seed), "--output-dir", out, "--eval-only",
                               *model, *variant, *grid.opts]), trainer, False))
    name = f"{grid.protocol}/{source}/{cell}/{_stem(config)}/seed{seed}"
    return Job(name, grid.protocol, source, cell, _stem(config), seed, tuple(runs))


def check_grid(grid: Grid) -> None:
    """One-line errors for a grid that cannot be planned."""
    if grid.protocol not in PROTOCOLS:
        raise SystemExit(f"--protocol: expected one of {', '.join(PROTOCOLS)}, got {grid.protocol!r}")
    if len(grid.opts) % 2:
        raise SystemExit(f"options after '--' must be KEY VALUE pairs, got {len(grid.opts)} items")
    unknown = [cell for cell in grid.cells if split_cell(cell)[0] not in cells.PAPER_ORDER]
    if unknown:
        raise SystemExit(f"unknown trainer {split_cell(unknown[0])[0]!r}: expected one of "
                         f"{', '.join(cells.paper_order(list(cells.PAPER_ORDER)))}")
    if len(set(grid.seeds)) != len(grid.seeds):
        raise SystemExit(f"--seeds: a seed is given twice ({' '.join(map(str, grid.seeds))})")
    for name in {*grid.datasets, *([grid.source] if grid.protocol in ("xd", "dg") else [])}:
        dataset_file(name)  # exits with one line for an unknown dataset
    if grid.protocol == "xd" and not grid.datasets:
        raise SystemExit("--protocol xd: give the target datasets with --datasets")


def plan(grid: Grid) -> list[Job]:
    """Every job of the grid, in table order (dataset, cell, seed); xd/dg: one job per cell and seed."""
    check_grid(grid)
    jobs: list[Job] = []
    if grid.protocol in ("xd", "dg"):
        targets = grid.datasets or (list(DG_TARGETS) if grid.protocol == "dg" else [])
        for cell in grid.cells:
            for seed in grid.seeds:
                jobs.append(_transfer_job(grid, cell, seed, targets))
        return jobs
    make = _all_job if grid.protocol == "all" else _base2new_job
    for dataset in grid.datasets:
        for cell in grid.cells:
            for seed in grid.seeds:
                jobs.append(make(grid, dataset, cell, seed))
    return jobs


def describe(job: Job, launcher: str = "python train.py") -> str:
    """The job as ``--dry-run`` prints it: its name, then each run's command line (``after``: what it waits for)."""
    lines = [f"{job.name}"]
    deps = job.dependencies
    for i, run in enumerate(job.runs):
        after = f"  (after {job.runs[deps[i]].label})" if i in deps else ""
        lines.append(f"  [{run.label}] {launcher} {' '.join(run.argv)}{after}")
    return "\n".join(lines)
