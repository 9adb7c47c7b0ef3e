"""Summarise test results over seeds, in the spirit of CoOp's ``parse_test_res.py``, from ``results.json``.

    python parse_test_res.py output/compare/hiershapes/HGCLIP/tiny_hiershapes
    python parse_test_res.py DIR --keyword macro_f1 --ci95
    python parse_test_res.py output/compare/hiershapes --multi-exp            # one experiment per sub-directory
    python parse_test_res.py output/base2new/train_base/hiershapes/shots_16/HGCLIP/tiny_hiershapes \\
        --base-new output/base2new/test_new/hiershapes/shots_16/HGCLIP/tiny_hiershapes

It reads every ``results.json`` under DIR (the ``Hierarchical`` evaluator writes one per run, so
there is no log to scrape and no end-of-training line to match) and prints one line per file,
then ``* <key>: mean% +- std%`` per key (population std as np.std, or the 95% CI 1.96*std/sqrt(n)).

``--keyword`` selects the keys, named as the evaluator prints them: ``accuracy`` (default) or
``top1`` = every ``<level>_top1`` plus ``full_path_accuracy`` and (when the runs report it)
``hierarchical_consistent_accuracy``; ``top5`` / ``macro_f1`` = that metric at every level;
``tree`` = the path and tree metrics (consistency, HCA, hP/hR/hF, MTA, severity, hierarchical
distance@1/@5); ``all`` = every key; any other key (``shape_top1``, ``path_consistency``, ...) = itself.

``--base-new NEW_DIR``: DIR holds the base runs, NEW_DIR the new ones; per level (and for full-path
accuracy and HCA), base and new are averaged over seeds FIRST and then HM = 2BN/(B+N) (the average
of per-seed HMs is not the HM).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from tabulate import tabulate

from ..evaluation import metric_spec as spec
from ..evaluation.aggregate import base_new_summary, find_result_dirs, flat_metrics, load_results, mean_std, spread
from ..runtime.run_dir import results_path

DEFAULT_KEYWORD = spec.ACCURACY


def select_keys(results: dict, keyword: str, path: str) -> list[str]:
    """The flat metric keys ``keyword`` stands for in one results.json (the groups of ``metric_spec``)."""
    flat = flat_metrics(results)
    keys = spec.keyword_keys(flat, keyword)
    if keys is not None:
        return keys
    if keyword not in flat:
        raise SystemExit(f"{path}: no key {keyword!r}; available: {', '.join(flat)}")
    return [keyword]


def _unit(key: str) -> str:
    return spec.suffix(key)


def collect(directory: str, keyword: str) -> tuple[list[str], dict[str, list[float]], list[dict]]:
    """(files, {key: per-file values}, raw results) for every results.json under ``directory``."""
    if not osp.isdir(directory):
        raise SystemExit(f"{directory}: no such directory")
    dirs = find_result_dirs(directory)
    if not dirs:
        raise SystemExit(f"Nothing found in {directory} (no results.json under it)")
    files, values, runs = [], {}, []
    for run_dir in dirs:
        path = results_path(run_dir)
        try:
            results = load_results(run_dir)
        except ValueError as error:  # json.JSONDecodeError
            raise SystemExit(f"{path}: not valid JSON ({error})") from None
        flat = flat_metrics(results)
        keys = select_keys(results, keyword, path)
        if values and list(values) != keys:
            raise SystemExit(f"{path}: keys {keys} differ from the other runs' {list(values)} (another hierarchy?)")
        for key in keys:
            values.setdefault(key, []).append(flat[key])
        parts = " ".join(f"{key}: {flat[key]:.2f}{_unit(key)}." for key in keys)
        print(f"file: {path}. {parts}")
        files.append(path)
        runs.append(results)
    return files, values, runs


def summarise(directory: str, values: dict[str, list[float]], ci95: bool) -> dict[str, float]:
    """Print the Dassl-style summary block; return the means."""
    print("===")
    print(f"Summary of directory: {directory}")
    means = {}
    for key, vals in values.items():
        mean, _ = mean_std(vals)
        means[key] = mean
        unit = _unit(key)
        print(f"* {key}: {mean:.2f}{unit} +- {spread(vals, ci95):.2f}{unit}")
    print("===")
    return means


def base_new(base_dir: str, new_dir: str, ci95: bool) -> dict:
    """Per-level base / new / HM: seeds averaged first, then the HM of the averages."""
    _, _, base_runs = collect(base_dir, spec.GROUP_TOP1)
    _, _, new_runs = collect(new_dir, spec.GROUP_TOP1)
    try:
        summary = base_new_summary(base_runs, new_runs)
    except ValueError as error:
        raise SystemExit(f"{base_dir} vs {new_dir}: {error}") from None
    rows = []
    for level, row in summary["per_level"].items():
        base_vals = [run["per_level"][level][spec.TOP1] for run in base_runs]
        new_vals = [run["per_level"][level][spec.TOP1] for run in new_runs]
        rows.append([level, row["base"], spread(base_vals, ci95), row["new"], spread(new_vals, ci95), row["hm"]])
    for metric in spec.BASE_NEW_METRICS:  # full path, HCA: when every run reports them
        if metric.summary_key in summary:
            means = summary[metric.summary_key]
            rows.append([metric.label, means["base"], spread([r[metric.key] for r in base_runs], ci95),
                         means["new"], spread([r[metric.key] for r in new_runs], ci95), means["hm"]])
    pm = "ci95" if ci95 else "std"
    print("===")
    print(f"Base-to-new: base {base_dir} ({len(base_runs)} runs), new {new_dir} ({len(new_runs)} runs)")
    print(tabulate(rows, headers=["level", "base", f"base {pm}", "new", f"new {pm}", "HM"], floatfmt=".2f"))
    for level, base, _, new, _, hm in rows:
        key = level.replace(" ", "_")
        print(f"* {key}: base {base:.2f}% new {new:.2f}% HM {hm:.2f}%")
    print("HM = 2*base*new/(base+new) of the seed-averaged base and new accuracies")
    print("===")
    return summary


def experiments(directory: str) -> list[str]:
    """Non-hidden sub-directories of ``directory`` holding at least one results.json, sorted."""
    if not osp.isdir(directory):
        raise SystemExit(f"{directory}: no such directory")
    subdirs = [osp.join(directory, d) for d in sorted(os.listdir(directory))
               if not d.startswith(".") and osp.isdir(osp.join(directory, d))]
    found = [d for d in subdirs if find_result_dirs(d)]
    if not found:
        raise SystemExit(f"Nothing found in {directory} (no sub-directory holds a results.json)")
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", help="directory holding the runs (seed sub-directories)")
    parser.add_argument("--base-new", metavar="NEW_DIR", default="",
                        help="the new-class runs: print per-level base, new and HM (of the seed averages)")
    parser.add_argument("--keyword", default=DEFAULT_KEYWORD,
                        help=f"which metric(s) to report: a group ({', '.join(spec.KEYWORD_GROUPS)}) or a key "
                             f"(default: {DEFAULT_KEYWORD})")
    parser.add_argument("--ci95", action="store_true", help="95%% confidence interval instead of the std")
    parser.add_argument("--multi-exp", action="store_true", help="each sub-directory is one experiment")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.multi_exp:
        names = [osp.basename(d) for d in experiments(args.directory)]
        all_means = {}
        for name in names:
            base_dir = osp.join(args.directory, name)
            if args.base_new:
                new_dir = osp.join(args.base_new, name)
                if not osp.isdir(new_dir):
                    raise SystemExit(f"{new_dir}: no such directory (the new runs of experiment {name})")
                all_means[name] = base_new(base_dir, new_dir, args.ci95)
            else:
                _, values, _ = collect(base_dir, args.keyword)
                all_means[name] = summarise(base_dir, values, args.ci95)
        if not args.base_new:
            keys = list(dict.fromkeys(k for means in all_means.values() for k in means))
            print("Average performance")
            for key in keys:
                vals = [means[key] for means in all_means.values() if key in means]
                print(f"* {key}: {sum(vals) / len(vals):.2f}{_unit(key)} (mean of {len(vals)} experiments)")
        return all_means
    if args.base_new:
        return base_new(args.directory, args.base_new, args.ci95)
    _, values, _ = collect(args.directory, args.keyword)
    return summarise(args.directory, values, args.ci95)


if __name__ == "__main__":
    main()
