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


def harmonic_mean(base: float, new: float) -> float:
    """HM = 2BN / (B + N); 0 when both are 0."""
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


def load_results(directory: str, name: str = "results.json") -> dict:
    path = osp.join(directory, name)
    if not osp.isfile(path):
        raise FileNotFoundError(f"no {name} in {directory} (did the run finish?)")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def find_result_dirs(root: str, name: str = "results.json") -> list[str]:
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


def base_new_summary(base_runs: Sequence[dict], new_runs: Sequence[dict]) -> dict:
    """Per-level base, new and HM (HM of the seed means), plus the full-path accuracies."""
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
    return {
        "levels": list(base),
        "per_level": per_level,
        "full_path": {"base": full_base, "new": full_new, "hm": harmonic_mean(full_base, full_new)},
        "num_seeds": len(base_runs),
    }


def fmt(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"
