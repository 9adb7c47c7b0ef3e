"""Aggregate ``results.json`` files over seeds: mean, std and the base/new harmonic mean.

The harmonic mean is taken on the seed-averaged accuracies (average first, then
HM), which is how CoCoOp/MaPLe tables are computed and what hand computations
often get wrong.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from typing import Iterable, Sequence

import numpy as np

from ..runtime.run_dir import RESULTS_FILE
from . import metric_spec as spec


def harmonic_mean(base: float, new: float) -> float:
    """HM = 2BN / (B + N); 0 when both are 0."""
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


def load_results(directory: str, name: str = RESULTS_FILE) -> dict:
    path = osp.join(directory, name)
    if not osp.isfile(path):
        raise FileNotFoundError(f"no {name} in {directory} (did the run finish?)")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def find_result_dirs(root: str, name: str = RESULTS_FILE) -> list[str]:
    """Every directory under ``root`` (itself included) holding ``name``, sorted."""
    found = [dirpath for dirpath, _, files in os.walk(root) if name in files]
    return sorted(found)


def level_top1(results: dict) -> dict[str, float]:
    """``{level: top-1}`` of one results.json, coarse -> fine."""
    return {level: float(results["per_level"][level][spec.TOP1]) for level in results["levels"]}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std (np.std, as the CoOp parse script)."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std())


def average_levels(runs: Iterable[dict]) -> dict[str, dict[str, float]]:
    """Per-level top-1 ``{"mean", "std", "n"}`` over runs (e.g. seeds) with the same levels."""
    runs = list(runs)
    if not runs:
        raise ValueError("no results to average")
    levels = runs[0]["levels"]
    for run in runs[1:]:
        if run["levels"] != levels:
            raise ValueError(f"cannot average results with different levels: {levels} vs {run['levels']}")
    summary = {}
    for level in levels:
        mean, std = mean_std([level_top1(run)[level] for run in runs])
        summary[level] = {"mean": mean, "std": std, "n": len(runs)}
    return summary


def _seed_mean(runs: Sequence[dict], key: str) -> "float | None":
    """Mean of ``key`` over runs, or None when a run lacks it (results from before the key existed)."""
    values = [run.get(key) for run in runs]
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


def base_new_summary(base_runs: Sequence[dict], new_runs: Sequence[dict]) -> dict:
    """Per-level base, new and HM (HM of the seed means), plus the spec's other base/new metrics.

    Those are ``metric_spec.BASE_NEW_METRICS`` (full-path accuracy as ``full_path``, HCA as ``hca``),
    each present only when every run reports it.
    """
    base, new = average_levels(base_runs), average_levels(new_runs)
    if list(base) != list(new):
        raise ValueError(f"base and new results have different levels: {list(base)} vs {list(new)}")
    per_level = {
        level: {
            "base": base[level]["mean"],
            "new": new[level]["mean"],
            "hm": harmonic_mean(base[level]["mean"], new[level]["mean"]),
            "base_std": base[level]["std"],
            "new_std": new[level]["std"],
        }
        for level in base
    }
    summary: dict = {"levels": list(base), "per_level": per_level}
    for metric in spec.BASE_NEW_METRICS:
        mean_base, mean_new = _seed_mean(base_runs, metric.key), _seed_mean(new_runs, metric.key)
        if mean_base is not None and mean_new is not None:
            summary[metric.summary_key] = {"base": mean_base, "new": mean_new, "hm": harmonic_mean(mean_base, mean_new)}
        if metric.key == spec.FULL_PATH_ACCURACY:  # summary.json has always had num_seeds right after the full path
            summary["num_seeds"] = len(base_runs)
    return summary


def fmt(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


# ---------------------------------------------------------------------------
# Seed summaries for method comparisons (cli/compare.py, parse_test_res.py)
# ---------------------------------------------------------------------------
def spread(values: Sequence[float], ci95: bool = False) -> float:
    """Population std (np.std, as Dassl's parse script), or the 95% CI half-width 1.96*std/sqrt(n)."""
    _, std = mean_std(values)
    return 1.96 * std / math.sqrt(len(values)) if ci95 else std


def _stats(values: Sequence[float], seeds: Sequence) -> dict:
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "n": len(values), "values": [float(v) for v in values], "seeds": list(seeds)}


def seed_summary(runs: Sequence[dict]) -> dict:
    """Per-level top-1 and full-path accuracy over seeds, keeping the per-seed values.

    Returns ``{"levels", "seeds", "per_level": {level: stats}, "full_path": stats, "metrics": {key: stats}}``
    where ``stats = {"mean", "std", "n", "values", "seeds"}`` (``values`` in ``seeds`` order) and
    ``metrics`` holds the ``metric_spec.COMPARISON_ROWS`` keys that every run reports, for results written
    with the tree metrics (older results.json files give an empty ``metrics``).
    """
    runs = list(runs)
    averaged = average_levels(runs)  # validates that every run has the same levels
    seeds = [run.get("seed") for run in runs]
    per_level = {level: _stats([level_top1(run)[level] for run in runs], seeds) for level in averaged}
    full = [run.get(spec.FULL_PATH_ACCURACY) for run in runs]
    full_path = _stats([math.nan if v is None else float(v) for v in full], seeds)
    extra = {}
    if all(run.get(spec.HIERARCHICAL_CONSISTENT_ACCURACY) is not None for run in runs):  # written with tree metrics
        for metric in spec.COMPARISON_ROWS:
            values = [run.get(metric.key) for run in runs]
            if all(v is not None for v in values):
                extra[metric.key] = _stats([float(v) for v in values], seeds)
    return {"levels": list(averaged), "seeds": seeds, "per_level": per_level, "full_path": full_path,
            "metrics": extra}


def compare_summary(dataset: str, runs_by_trainer: "dict[str, Sequence[dict]]",
                    configs: "dict[str, str] | None" = None) -> dict:
    """Seed summaries of several trainers on one dataset (one column each in a Table-1 layout).

    Every trainer must report the same levels (the same hierarchy); trainers without runs are left out.
    Returns ``{"dataset", "levels", "seeds", "trainers": {name: seed_summary + "config"}}``.
    """
    trainers: dict[str, dict] = {}
    levels: "list[str] | None" = None
    seeds: list = []
    for name, runs in runs_by_trainer.items():
        if not runs:
            continue
        summary = seed_summary(runs)
        if levels is None:
            levels = summary["levels"]
        elif summary["levels"] != levels:
            raise ValueError(f"{name} reports levels {summary['levels']} on {dataset}, others {levels}")
        summary["config"] = (configs or {}).get(name, "")
        trainers[name] = summary
        seeds.extend(s for s in summary["seeds"] if s not in seeds)
    if not trainers:
        raise ValueError(f"no results to compare on {dataset}")
    return {"dataset": dataset, "levels": levels, "seeds": seeds, "trainers": trainers}


def flat_metrics(results: dict) -> "dict[str, float]":
    """One results.json as the evaluator's printed keys (``accuracy``, ``<level>_top1``, ...).

    These are the names ``* <key>: x%`` lines use, so ``parse_test_res.py --keyword`` means
    the same thing for logs and for results.json. Undefined values (null) are left out.
    """
    flat: dict[str, float] = {}
    for key, metric, level in spec.flat_keys(results.get("levels", [])):
        value = results["per_level"][level].get(metric.key) if level is not None else results.get(key)
        if value is not None:
            flat[key] = float(value)
    return flat
