"""Evaluate one trained model under every decoding (``TEST.DECODING``) and print one table of every metric.

    python -m hgclip.cli.eval_decoders <model-dir> [dataset-config] [--out-dir DIR] [-- KEY VALUE ...]

``<model-dir>`` is a ``train.py --output-dir``: its ``log.txt`` records the command line of the run
(trainer, config files, root, seed, options), which is replayed as
``train.py --eval-only --model-dir <model-dir> ... TEST.DECODING <decoder>`` once per decoder, each
into ``<out-dir>/<decoder>/`` (default ``<model-dir>/decoders/<decoder>/``). ``dataset-config``
replaces the run's dataset config (cross-dataset evaluation); options after ``--`` are appended
to the run's own (e.g. ``DATASET.SUBSAMPLE_CLASSES new``).

Prints a table with one row per metric (as ``results.json`` names it; heights are LCA heights,
the rest percentages) and one column per decoder, and writes it to ``<out-dir>/decoders.md``
plus the numbers to ``<out-dir>/decoders.json``. The last line is ``table: <path>``.
"""
from __future__ import annotations

import argparse
import ast
import os.path as osp
import sys
from typing import Optional, Sequence

from tabulate import tabulate

from ..common.errors import InputError
from ..common.fileio import atomic_write_json, atomic_write_text
from ..engine.named_configs import dataset_config as find_dataset_config
from ..engine.named_configs import package_file
from ..evaluation import metric_spec as spec
from ..evaluation.aggregate import flat_metrics, load_results
from ..evaluation.decoding import DECODINGS
from ..runtime.run_dir import log_path
from .sweep_job import run_train

ARGUMENTS_HEADER = "** Arguments **"
ARGUMENTS_END = "************"
#: train.py arguments replayed from the run's log (the rest are set here or dropped)
REPLAYED = ("root", "seed", "trainer", "config_file", "dataset_config_file", "backbone", "head",
            "source_domains", "target_domains", "transforms")
LITERALS = ("seed", "load_epoch", "opts", "source_domains", "target_domains", "transforms",
            "eval_only", "no_train")


def read_run_arguments(model_dir: str) -> dict:
    """The ``** Arguments **`` block that ``train.py`` printed into ``<model_dir>/log.txt``, as a dict."""
    path = log_path(model_dir)
    if not osp.isfile(path):
        raise SystemExit(f"{path}: not found (is {model_dir} a train.py --output-dir?)")
    arguments: dict = {}
    inside = False
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if line == ARGUMENTS_HEADER:
                inside = True
                continue
            if inside and line == ARGUMENTS_END:
                break
            if inside:
                key, sep, value = line.partition(": ")
                if not sep and line.endswith(":"):
                    key, value = line[:-1], ""
                elif not sep:
                    raise SystemExit(f"{path}:{number}: expected 'name: value' in the arguments block, got {line!r}")
                if key in LITERALS:
                    try:
                        value = ast.literal_eval(value)
                    except (ValueError, SyntaxError):
                        raise SystemExit(f"{path}:{number}: {key}: cannot read the value {value!r}") from None
                arguments[key] = value
    if not arguments:
        raise SystemExit(f"{path}: no '{ARGUMENTS_HEADER}' block (is {model_dir} a train.py --output-dir?)")
    for key in ("trainer", "config_file"):
        if not arguments.get(key):
            raise SystemExit(f"{path}: the arguments block has no {key}")
    return arguments


def resolve(path: str, what: str) -> str:
    """An existing file named relative to the current directory or to the package (``configs/...``); a dataset
    config may also be a name (``hiershapes``)."""
    if what.startswith("dataset"):
        try:
            return osp.abspath(find_dataset_config(path))
        except InputError as error:
            raise SystemExit(str(error)) from None
    found = package_file(path)
    if not found:
        raise SystemExit(f"{what} {path!r} not found (relative paths are tried from here and from the package)")
    return osp.abspath(found)


def eval_args(arguments: dict, model_dir: str, out_dir: str, decoder: str, dataset_config: str,
              extra_opts: Sequence[str], load_epoch: Optional[int]) -> list[str]:
    """The ``train.py`` command line that evaluates ``model_dir`` under ``decoder``."""
    args: list[str] = []
    for key in REPLAYED:
        value = arguments.get(key)
        if key == "dataset_config_file" and dataset_config:
            value = dataset_config
        if value in (None, "", []):
            continue
        if key in ("config_file", "dataset_config_file"):
            value = resolve(value, key.replace("_", "-"))
        elif key == "root" and not osp.isabs(value):
            value = osp.abspath(value)  # the training ran in the current directory, as the tools run it
        flag = "--" + key.replace("_", "-")
        args += [flag, *map(str, value)] if isinstance(value, (list, tuple)) else [flag, str(value)]
    args += ["--eval-only", "--model-dir", osp.abspath(model_dir), "--output-dir", osp.join(out_dir, decoder)]
    if load_epoch is not None:
        args += ["--load-epoch", str(load_epoch)]
    return [*args, *map(str, arguments.get("opts") or []), *extra_opts, "TEST.DECODING", decoder]


def comparison_rows(results_by_decoder: "dict[str, dict]") -> tuple[list[str], list[list[str]]]:
    """(headers, rows): one row per metric key, in the evaluator's order, one column per decoder."""
    flats = {d: flat_metrics(r) for d, r in results_by_decoder.items()}
    keys = list(dict.fromkeys(k for flat in flats.values() for k in flat))
    rows = [["valid paths guaranteed", *["yes" if DECODINGS[d].valid_paths else "no" for d in flats]]]
    for key in keys:
        unit = " (%)" if spec.is_percent(key) else ""
        rows.append([key + unit, *[f"{flats[d][key]:.2f}" if key in flats[d] else "-" for d in flats]])
    return ["metric", *flats], rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="a train.py --output-dir holding log.txt and the checkpoint")
    parser.add_argument("dataset_config", nargs="?", default="", help="dataset config to evaluate on instead")
    parser.add_argument("--out-dir", default="", help="where the per-decoder runs go (default <model-dir>/decoders)")
    parser.add_argument("--load-epoch", type=int, default=None, help="evaluate the weights of this epoch")
    parser.add_argument("--verbose", action="store_true", help="show the full output of every run")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> str:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts: list[str] = []
    if "--" in argv:  # everything after '--' is config options, never flags for this script
        cut = argv.index("--")
        argv, opts = argv[:cut], argv[cut + 1:]
    if len(opts) % 2:
        raise SystemExit(f"options after '--' must be KEY VALUE pairs, got {len(opts)} items: {' '.join(opts)}")
    ns = build_parser().parse_args(argv)
    if not osp.isdir(ns.model_dir):
        raise SystemExit(f"{ns.model_dir}: no such directory")
    arguments = read_run_arguments(ns.model_dir)
    dataset_config = resolve(ns.dataset_config, "dataset config") if ns.dataset_config else ""
    out_dir = osp.abspath(ns.out_dir or osp.join(ns.model_dir, "decoders"))

    results: dict[str, dict] = {}
    for decoder in DECODINGS:
        args = eval_args(arguments, ns.model_dir, out_dir, decoder, dataset_config, opts, ns.load_epoch)
        run_train(args, ns.verbose, f"decoding {decoder}")
        results[decoder] = load_results(osp.join(out_dir, decoder))

    headers, rows = comparison_rows(results)
    first = next(iter(results.values()))
    title = (f"{first.get('trainer')} on {first.get('dataset')} ({first.get('subsample')} classes, "
             f"{first.get(spec.NUM_SAMPLES)} test samples), model {osp.abspath(ns.model_dir)}")
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    atomic_write_text(osp.join(out_dir, "decoders.md"), f"{title}\n\n{table}\n")
    atomic_write_json(osp.join(out_dir, "decoders.json"), {"model_dir": osp.abspath(ns.model_dir),
                                                           "results": {d: flat_metrics(r) for d, r in results.items()}})
    print(f"\n{title}\n")
    print(table)
    path = osp.join(out_dir, "decoders.md")
    print(f"table: {path}")
    return path


if __name__ == "__main__":
    main()
