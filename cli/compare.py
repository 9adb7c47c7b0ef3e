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

Each trainer x seed runs ``train.py`` in its own process into
``<output>/compare/<dataset>/<TRAINER>/<cfg>/seed<S>``; a finished run (``results.json``, plus
``prompt_learner/checkpoint`` for trainable trainers) is not run again, provided its results.json
reports the same class subset, shots, seed and backbone, its recorded config.yaml agrees on every
result-changing key and its inputs.json on the contents of the hierarchy, images and CLIP weights
(``train.py --check-inputs``; else it stops: delete the run or change OUTPUT). A failed run does not stop
the others: the report is written from what finished and the exit status is 1.
Writes ``comparison.md``, ``comparison.csv``, ``comparison.png`` and ``comparison.html`` into ``<output>/compare/<dataset>/``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from .. import project  # noqa: F401  (registers the trainers under their table names)
from ..common.config_io import config_file_options, flatten
from ..common.errors import EXIT_BAD_INPUT, InputError
from ..common.paths import config_dir
from ..engine.named_configs import trainer_config
from ..evaluation.aggregate import compare_summary, load_results
from ..evaluation.comparison_report import comparison_markdown, write_reports
from ..registry import has_parameters, list_trainers, trainer_class
from ..runtime.run_dir import RunDirError, check_recorded_config, results_path, run_finished
from .base2new import run_train, train_command

PAPER_ORDER = tuple(list_trainers())  # the registry's table order (TABLE_ORDER of each trainer)
EMBEDDED = "hiershapes"
EMBEDDED_SHOTS = 16
CONFIG_DIR = config_dir()  # the package's configs/: datasets/, variants/
VARIANT_DIR = osp.join(CONFIG_DIR, "variants")  # <NAME>.yaml: config keys a TRAINER+NAME cell adds to the trainer's


class Refusal(SystemExit):
    """Bad input to the comparison (arguments, a variant, a run in the way): one line, exit code 2, as train.py's.

    ``main`` raises it (tests match its text); the command line prints ``error: <message>`` (:func:`console`)."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_BAD_INPUT)
        self.message = message

    def __str__(self) -> str:
        return self.message


class StaleRunError(Refusal):
    """A finished run in the way was made with another protocol: the user decides, so the script stops."""


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


def available_datasets() -> list[str]:
    folder = osp.join(CONFIG_DIR, "datasets")
    return sorted(osp.splitext(f)[0] for f in os.listdir(folder) if f.endswith(".yaml"))


#: Keys a variant may not set: the comparison's protocol, the same for every column (its caption says them).
PROTOCOL_KEYS = ("DATASET.NAME", "DATASET.ROOT", "DATASET.NUM_SHOTS", "DATASET.SUBSAMPLE_CLASSES", "SEED", "OUTPUT_DIR",
                 "TRAINER.NAME")
#: Key prefixes that only change training: a variant made of them changes nothing for a trainer without parameters.
TRAINING_ONLY_PREFIXES = ("OPTIM.", "LOSS.", "TRAIN.", "DATALOADER.TRAIN_X.")


def variant_dirs(extra: Sequence[str] = ()) -> list[str]:
    """Where ``TRAINER+NAME`` looks for ``NAME.yaml``: ``extra`` (``--variants``), ``HGCLIP_VARIANTS``, the package's."""
    from_env = [d for d in os.environ.get("HGCLIP_VARIANTS", "").split(os.pathsep) if d]
    return [osp.abspath(d) for d in (*extra, *from_env)] + [VARIANT_DIR]


def available_variants(extra: Sequence[str] = ()) -> dict[str, str]:
    """Variant name -> its YAML file; a name found in several folders is taken from the first (see :func:`variant_dirs`)."""
    found: dict[str, str] = {}
    for folder in variant_dirs(extra):
        if not osp.isdir(folder):
            if folder != VARIANT_DIR:
                raise Refusal(f"--variants / HGCLIP_VARIANTS: {folder} is not a folder of variant YAML files")
            continue
        for name in sorted(os.listdir(folder)):
            if name.endswith(".yaml"):
                found.setdefault(osp.splitext(name)[0], osp.join(folder, name))
    return found


def split_cell(cell: str) -> tuple[str, str]:
    """``"MaPLe+ProTeCt"`` -> ``("MaPLe", "ProTeCt")``; a plain trainer -> ``(trainer, "")``."""
    trainer, _, variant = cell.partition("+")
    return trainer, variant


def variant_options(variant: str, variants: Optional[dict[str, str]] = None) -> list[str]:
    """The ``KEY VALUE`` options of the variant's YAML file (none for ``""``), refusing protocol keys in one line."""
    if not variant:
        return []
    variants = available_variants() if variants is None else variants
    path = variants[variant]
    try:
        options = config_file_options(path)
    except InputError as error:
        raise Refusal(str(error)) from None
    protocol = [key for key in options[::2] if key in PROTOCOL_KEYS]
    if protocol:
        raise Refusal(f"{path}: sets {', '.join(protocol)}, which the comparison fixes for every column "
                         "(--shots, the dataset, the seeds); remove it from the variant")
    return options


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


def paper_order(names: Sequence[str]) -> list[str]:
    """The paper's column order (a ``TRAINER+VARIANT`` cell right after its trainer); others keep their order."""
    position = {name: i for i, name in enumerate(PAPER_ORDER)}
    known = [n for n in names if split_cell(n)[0] in position]
    known.sort(key=lambda n: (position[split_cell(n)[0]], split_cell(n)[1] != "", names.index(n)))
    return known + [n for n in names if split_cell(n)[0] not in position]


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


def config_for(cell: str, dataset: str, environ: Optional[dict] = None) -> str:
    """The trainer's config file for ``dataset`` (``CFG_<TRAINER>`` overrides); exits if it does not exist.

    A ``TRAINER+VARIANT`` cell uses its trainer's config (the variant adds keys on top).
    """
    trainer = split_cell(cell)[0]
    environ = os.environ if environ is None else environ
    variable = next((v for v in (f"CFG_{trainer}", f"CFG_{trainer.upper()}") if environ.get(v)), None)
    if variable:
        name, where = environ[variable], f"{variable}={environ[variable]}"
    elif dataset == EMBEDDED:
        name, where = "tiny", "the embedded default's config"
    else:
        name, where = "paper", "the paper-protocol config"
    try:
        return trainer_config(trainer, name)
    except InputError as error:
        raise Refusal(f"{where}: {error} (set CFG_{trainer}=<config.yaml> to choose one)") from None


def expected_config(args: Sequence[str]) -> Any:
    """The config ``train.py args`` would run with (the output path does not encode it)."""
    from . import train

    return train.setup_cfg(train.build_parser().parse_args(list(args)))


def expected_fields(cfg: Any) -> dict:
    """What results.json must say for a run made with ``cfg``."""
    return {"subsample": cfg.DATASET.SUBSAMPLE_CLASSES, "num_shots": cfg.DATASET.NUM_SHOTS, "seed": cfg.SEED,
            "backbone": cfg.MODEL.BACKBONE.NAME}


def check_protocol(results: dict, run_dir: str, cfg: Any, trainer: str) -> None:
    """Refuse to reuse a finished run made with another protocol, backbone or config (a variant's keys included)."""
    for key, value in expected_fields(cfg).items():
        if key in results and results[key] != value:
            raise StaleRunError(f"{results_path(run_dir)}: {key} is {results[key]!r}, this "
                                f"comparison needs {value!r}; delete that run or choose another OUTPUT")
    try:
        check_recorded_config(run_dir, cfg, trainer_class(trainer).CFG_KEY)
    except RunDirError as error:
        raise StaleRunError(f"{error}".replace("use a new --output-dir, or pass --overwrite to start it afresh",
                                               "delete that run or choose another OUTPUT")) from None


def check_inputs(args: Sequence[str], label: str) -> None:
    """Refuse to reuse a finished run made on other inputs (an edited hierarchy, other images or CLIP weights at the
    same paths): ``train.py --check-inputs`` compares what the run recorded, writing nothing."""
    result = subprocess.run(train_command(["--check-inputs", *args]), capture_output=True, text=True,
                            env=dict(os.environ, PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore")))
    if result.returncode == 0:
        return
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    reason = lines[-1][len("error: "):] if lines else f"train.py --check-inputs exit code {result.returncode}"
    if result.returncode == 2:
        reason = reason.replace("use a new --output-dir, or pass --overwrite to start it afresh",
                                "delete that run or choose another OUTPUT")
        raise StaleRunError(f"[{label}] finished run not reused: {reason}")
    raise SystemExit(f"[{label}] {reason}")


def run_dir_for(output: str, dataset: str, cell: str, config: str, seed: int) -> str:
    cfg_name = osp.splitext(osp.basename(config))[0]
    return osp.join(output, "compare", dataset, cell, cfg_name, f"seed{seed}")


def train_args(ns: argparse.Namespace, plan: Plan, cell: str, config: str, seed: int, with_variant: bool = True) -> list[str]:
    """The ``train.py`` command line of one cell (trainer or TRAINER+VARIANT) x seed (``with_variant`` False: without
    the variant's keys)."""
    trainer, variant = split_cell(cell)
    variant = variant if with_variant else ""
    return [
        "--root", ns.root, "--seed", str(seed), "--trainer", trainer,
        "--dataset-config-file", osp.join(CONFIG_DIR, "datasets", f"{plan.dataset}.yaml"),
        "--config-file", config, "--output-dir", run_dir_for(ns.output, plan.dataset, cell, config, seed),
        "DATASET.NUM_SHOTS", str(ns.shots), "DATASET.SUBSAMPLE_CLASSES", "all",
        *variant_options(variant, getattr(ns, "variant_files", None)), *plan.opts,
    ]


def run_one(ns: argparse.Namespace, plan: Plan, cell: str, config: str, seed: int) -> str:
    """Train (or just evaluate, for zero-shot) one cell x seed unless it has finished; return its dir."""
    run_dir = run_dir_for(ns.output, plan.dataset, cell, config, seed)
    label = f"{cell} seed {seed}"
    args = train_args(ns, plan, cell, config, seed)
    trainer = split_cell(cell)[0]
    if run_finished(run_dir, has_parameters(trainer)):
        check_protocol(load_results(run_dir), run_dir, expected_config(args), trainer)
        check_inputs(args, label)
        print(f"[{label}] finished run found in {run_dir}: skipped", flush=True)
        return run_dir
    if ns.no_run:
        raise SystemExit(f"[{label}] no finished run in {run_dir}")
    run_train(args, ns.verbose, label)
    return run_dir


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
    runs: dict[str, list[dict]] = {trainer: [] for trainer in plan.trainers}
    failures: list[str] = []
    for trainer in plan.trainers:
        for seed in plan.seeds:
            try:
                run_dir = run_one(ns, plan, trainer, configs[trainer], seed)
                runs[trainer].append(load_results(run_dir))
            except StaleRunError:
                raise
            except (SystemExit, FileNotFoundError) as error:  # one failed run must not throw away the others
                failures.append(str(error))
                print(error, flush=True)
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
    try:
        main(argv)
    except Refusal as refusal:
        print(f"error: {refusal.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(console())
