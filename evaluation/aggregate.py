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

from ..engine.run_dir import RESULTS_FILE


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
    return {level: float(results["per_level"][level]["top1"]) for level in results["levels"]}


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
    """Per-level base, new and HM (HM of the seed means), plus full-path accuracy and HCA.

    ``hca`` (hierarchical consistent accuracy) is present only when every run reports it.
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
    full_base = float(np.mean([run["full_path_accuracy"] for run in base_runs]))
    full_new = float(np.mean([run["full_path_accuracy"] for run in new_runs]))
    summary = {
        "levels": list(base),
        "per_level": per_level,
        "full_path": {"base": full_base, "new": full_new, "hm": harmonic_mean(full_base, full_new)},
        "num_seeds": len(base_runs),
    }
    hca_base, hca_new = _seed_mean(base_runs, HCA), _seed_mean(new_runs, HCA)
    if hca_base is not None and hca_new is not None:
        summary["hca"] = {"base": hca_base, "new": hca_new, "hm": harmonic_mean(hca_base, hca_new)}
    return summary


def fmt(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


# ---------------------------------------------------------------------------
# Seed summaries for method comparisons (cli/compare.py, parse_test_res.py)
# ---------------------------------------------------------------------------
FULL_PATH = "full path"  # the extra row of a comparison table: every level right at once
HCA = "hierarchical_consistent_accuracy"
#: LCA heights, not percentages (lower is better)
UNITLESS_KEYS = ("mistake_severity", "hierarchical_distance_at_1", "hierarchical_distance_at_5")
#: results.json keys added with the tree metrics, in the evaluator's order
TREE_KEYS = (
    HCA,
    "hierarchical_precision",
    "hierarchical_recall",
    "hierarchical_f1",
    "mean_treecut_accuracy",
    "hierarchical_distance_at_5",
)
#: extra rows of comparison tables: (results.json key, row label); only for results with tree metrics
TABLE_METRICS = (
    (HCA, "HCA"),
    ("mean_treecut_accuracy", "MTA"),
    ("hierarchical_precision", "hP"),
    ("hierarchical_recall", "hR"),
    ("hierarchical_f1", "hF"),
    ("hierarchical_distance_at_1", "hier. dist@1"),
    ("hierarchical_distance_at_5", "hier. dist@5"),
)


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
    ``metrics`` holds the :data:`TABLE_METRICS` keys that every run reports, for results written
    with the tree metrics (older results.json files give an empty ``metrics``).
    """
    runs = list(runs)
    averaged = average_levels(runs)  # validates that every run has the same levels
    seeds = [run.get("seed") for run in runs]
    per_level = {level: _stats([level_top1(run)[level] for run in runs], seeds) for level in averaged}
    full = [run.get("full_path_accuracy") for run in runs]
    full_path = _stats([math.nan if v is None else float(v) for v in full], seeds)
    extra = {}
    if all(run.get(HCA) is not None for run in runs):
        for key, _ in TABLE_METRICS:
            values = [run.get(key) for run in runs]
            if all(v is not None for v in values):
                extra[key] = _stats([float(v) for v in values], seeds)
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
    from .hierarchical import _metric_key  # the evaluator's level-name -> key rule, kept in one place

    flat: dict[str, float] = {}

    def put(key: str, value) -> None:
        if value is not None:
            flat[key] = float(value)

    put("accuracy", results.get("accuracy"))
    for level in results.get("levels", []):
        row = results["per_level"][level]
        for metric in ("top1", "top5", "macro_f1"):
            put(f"{_metric_key(level)}_{metric}", row.get(metric))
    for key in ("full_path_accuracy", "path_consistency", "mistake_severity", "hierarchical_distance_at_1",
                *TREE_KEYS):
        put(key, results.get(key))
    return flat
