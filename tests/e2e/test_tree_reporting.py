"""The tree metrics in seed aggregation, base-to-new tables, compare tables/CSV and parse_test_res.py."""
from __future__ import annotations

import csv
import io
import json
import os
import os.path as osp

import pytest

from hgclip.cli import (
    base2new,  # noqa: E402
    parse_test_res,
)
from hgclip.evaluation.aggregate import base_new_summary, compare_summary, flat_metrics, harmonic_mean, seed_summary
from hgclip.evaluation.comparison_report import comparison_csv, comparison_markdown

LEVELS = ["family", "shape", "object"]


def results(seed: int, top1: float, hca: float, mta: float = 50.0, hdist5: float = 1.0,
            subsample: str = "all") -> dict:
    """A results.json with the tree metrics (only the fields readers use)."""
    return {
        "trainer": "HGCLIP", "dataset": "HierShapes", "subsample": subsample, "seed": seed, "num_shots": 16,
        "levels": LEVELS, "num_samples": 100, "accuracy": top1,
        "per_level": {lvl: {"top1": top1, "top5": None, "macro_f1": top1, "num_classes": 4 * 2 ** i}
                      for i, lvl in enumerate(LEVELS)},
        "full_path_accuracy": top1 - 5, "path_consistency": 90.0, "mistake_severity": 1.5,
        "hierarchical_distance_at_1": 0.5, "hierarchical_consistent_accuracy": hca,
        "hierarchical_precision": top1, "hierarchical_recall": top1, "hierarchical_f1": top1,
        "mean_treecut_accuracy": mta, "hierarchical_distance_at_5": hdist5,
        "tree_cuts": {"requested": 25, "num_cuts": 25, "seed": 0},
    }


def test_base_new_hca_is_the_hm_of_seed_means():
    base = [results(1, 80.0, 60.0, subsample="base"), results(2, 80.0, 20.0, subsample="base")]
    new = [results(1, 40.0, 20.0, subsample="new"), results(2, 40.0, 60.0, subsample="new")]
    summary = base_new_summary(base, new)
    # base HCA mean 40, new HCA mean 40 -> HM 40; the mean of per-seed HMs would be HM(60, 20) = 30
    assert summary["hca"] == {"base": 40.0, "new": 40.0, "hm": pytest.approx(40.0)}
    assert harmonic_mean(60, 20) == pytest.approx(30.0)
    assert summary["full_path"]["hm"] == pytest.approx(harmonic_mean(75.0, 35.0))
    table = base2new.render(summary)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    assert [r[0] for r in rows] == [*LEVELS, "full path", "HCA"]
    assert rows[-1][0] == "HCA" and [float(c) for c in rows[-1][1:]] == [40.0, 40.0, 40.0]
    # runs written before the tree metrics: no HCA row, nothing invented
    old = [{k: v for k, v in run.items() if k != "hierarchical_consistent_accuracy"} for run in base]
    assert "hca" not in base_new_summary(old, new)


def test_seed_summary_and_compare_tables_add_tree_rows():
    runs = {
        "CoOp": [results(1, 60.0, 30.0, mta=40.0, hdist5=1.5), results(2, 62.0, 34.0, mta=44.0, hdist5=1.3)],
        "HGCLIP": [results(1, 64.0, 40.0, mta=41.0, hdist5=1.1), results(2, 66.0, 42.0, mta=43.0, hdist5=1.2)],
    }
    summary = seed_summary(runs["CoOp"])
    assert summary["metrics"]["hierarchical_consistent_accuracy"]["mean"] == pytest.approx(32.0)
    assert summary["metrics"]["hierarchical_distance_at_5"]["values"] == [1.5, 1.3]
    comparison = compare_summary("hiershapes", runs)
    text = comparison_markdown([comparison])
    lines = [line for line in text.splitlines() if line.startswith("|")]
    rows = {r[1]: r[2:] for r in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}
    assert list(rows) == ["l1 (family)", "l2 (shape)", "l3 (object)", "full path", "HCA", "MTA", "hP", "hR", "hF",
                          "hier. dist@1", "hier. dist@5"]
    assert rows["HCA"] == ["32.00 ± 2.00", "**41.00 ± 1.00**"]
    # MTA ties at 42.00: both bold
    assert rows["MTA"] == ["**42.00 ± 2.00**", "**42.00 ± 1.00**"]
    # a distance: the LOWEST mean is best (1.15 < 1.40)
    assert rows["hier. dist@5"] == ["1.40 ± 0.10", "**1.15 ± 0.05**"]
    assert "lower is better" in text
    csv_rows = list(csv.DictReader(io.StringIO(comparison_csv([comparison]))))
    hca = [r for r in csv_rows if r["metric"] == "hierarchical_consistent_accuracy"]
    assert [(r["trainer"], r["level"], r["level_index"], float(r["mean"])) for r in hca] == [
        ("CoOp", "HCA", "", 32.0), ("HGCLIP", "HCA", "", 41.0)]


def test_compare_table_marks_trainers_without_tree_metrics():
    old = results(1, 50.0, 10.0)
    for key in ("hierarchical_consistent_accuracy", "mean_treecut_accuracy", "hierarchical_distance_at_5"):
        old.pop(key)
    comparison = compare_summary("hiershapes", {"Old": [old], "HGCLIP": [results(1, 64.0, 40.0)]})
    row = next(line for line in comparison_markdown([comparison]).splitlines() if line.startswith("| ") and "HCA" in line)
    assert [c.strip() for c in row.strip("|").split("|")][2:] == ["-", "**40.00**"]


def write(directory, payload: dict) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(osp.join(directory, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(payload, handle)


def test_parse_test_res_tree_keywords(tmp_path, capsys):
    write(tmp_path / "seed1", results(1, 60.0, 30.0, mta=40.0, hdist5=1.5))
    write(tmp_path / "seed2", results(2, 64.0, 34.0, mta=44.0, hdist5=1.3))
    means = parse_test_res.main([str(tmp_path)])
    assert list(means) == ["family_top1", "shape_top1", "object_top1", "full_path_accuracy",
                           "hierarchical_consistent_accuracy"]
    assert means["hierarchical_consistent_accuracy"] == pytest.approx(32.0)
    tree = parse_test_res.main([str(tmp_path), "--keyword", "tree"])
    assert list(tree) == ["path_consistency", "hierarchical_consistent_accuracy", "hierarchical_precision",
                          "hierarchical_recall", "hierarchical_f1", "mean_treecut_accuracy", "mistake_severity",
                          "hierarchical_distance_at_1", "hierarchical_distance_at_5"]
    out = capsys.readouterr().out
    assert "* mean_treecut_accuracy: 42.00% +- 2.00%" in out
    assert "* hierarchical_distance_at_5: 1.40 +- 0.10\n" in out  # a height: no percent sign
    everything = parse_test_res.main([str(tmp_path), "--keyword", "all"])
    assert list(everything) == list(flat_metrics(results(1, 60.0, 30.0)))


def test_parse_test_res_base_new_hca_row(tmp_path, capsys):
    write(tmp_path / "base" / "seed1", results(1, 80.0, 60.0, subsample="base"))
    write(tmp_path / "base" / "seed2", results(2, 80.0, 20.0, subsample="base"))
    write(tmp_path / "new" / "seed1", results(1, 40.0, 20.0, subsample="new"))
    write(tmp_path / "new" / "seed2", results(2, 40.0, 60.0, subsample="new"))
    summary = parse_test_res.main([str(tmp_path / "base"), "--base-new", str(tmp_path / "new")])
    assert summary["hca"]["hm"] == pytest.approx(40.0)
    assert "* HCA: base 40.00% new 40.00% HM 40.00%" in capsys.readouterr().out
