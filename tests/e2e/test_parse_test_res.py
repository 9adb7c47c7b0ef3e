"""parse_test_res.py: per-file lines, Dassl-style summaries, --ci95, --keyword, --multi-exp, --base-new, errors."""
from __future__ import annotations

import json
import math
import os
import os.path as osp

import pytest
from run_helpers import run_python

from hgclip.cli import parse_test_res

LEVELS = ["family", "shape", "object"]


def write_run(directory, seed: int, top1: list[float], full: float = 40.0, subsample: str = "all") -> None:
    """A results.json as the Hierarchical evaluator writes it; the coarsest level has only 4 classes (no top-5)."""
    os.makedirs(directory, exist_ok=True)
    payload = {
        "trainer": "HGCLIP", "dataset": "HierShapes", "subsample": subsample, "seed": seed, "num_shots": 16,
        "levels": LEVELS, "num_samples": 64, "accuracy": top1[-1],
        "per_level": {lvl: {"top1": v, "top5": None if i == 0 else min(100.0, v + 10), "macro_f1": v - 5,
                            "num_classes": [4, 8, 32][i]} for i, (lvl, v) in enumerate(zip(LEVELS, top1))},
        "full_path_accuracy": full, "path_consistency": 95.0, "mistake_severity": 1.25,
        "hierarchical_distance_at_1": None,
    }
    with open(osp.join(directory, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(payload, handle)


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "HGCLIP" / "tiny"
    write_run(root / "seed1", 1, [80.0, 60.0, 40.0], 30.0)
    write_run(root / "seed2", 2, [90.0, 70.0, 50.0], 34.0)
    (root / "seed3").mkdir()  # an unfinished seed: no results.json, ignored
    return str(root)


def test_lines_and_summary(runs, capsys):
    means = parse_test_res.main([runs])
    out = capsys.readouterr().out
    files = [line for line in out.splitlines() if line.startswith("file: ")]
    assert len(files) == 2 and files[0].startswith(f"file: {osp.join(runs, 'seed1', 'results.json')}. ")
    assert "family_top1: 80.00%." in files[0] and "full_path_accuracy: 30.00%." in files[0]
    assert f"Summary of directory: {runs}" in out
    assert "* family_top1: 85.00% +- 5.00%" in out
    assert "* shape_top1: 65.00% +- 5.00%" in out
    assert "* object_top1: 45.00% +- 5.00%" in out
    assert "* full_path_accuracy: 32.00% +- 2.00%" in out
    assert list(means) == ["family_top1", "shape_top1", "object_top1", "full_path_accuracy"]


def test_ci95(runs, capsys):
    parse_test_res.main([runs, "--ci95"])
    half = 1.96 * 5.0 / math.sqrt(2)
    assert f"* family_top1: 85.00% +- {half:.2f}%" in capsys.readouterr().out


def test_keywords(runs, capsys):
    assert list(parse_test_res.main([runs, "--keyword", "macro_f1"])) == [
        "family_macro_f1", "shape_macro_f1", "object_macro_f1"]
    assert list(parse_test_res.main([runs, "--keyword", "top5"])) == ["shape_top5", "object_top5"]  # null skipped
    assert parse_test_res.main([runs, "--keyword", "shape_top1"]) == {"shape_top1": 65.0}
    assert parse_test_res.main([runs, "--keyword", "mistake_severity"]) == {"mistake_severity": 1.25}
    assert "* mistake_severity: 1.25 +- 0.00\n" in capsys.readouterr().out  # a height, not a percentage
    with pytest.raises(SystemExit, match="no key 'nonsense'; available: accuracy, family_top1"):
        parse_test_res.main([runs, "--keyword", "nonsense"])


def test_multi_exp(tmp_path, capsys):
    write_run(tmp_path / "CoOp" / "seed1", 1, [70.0, 50.0, 30.0])
    write_run(tmp_path / "HGCLIP" / "seed1", 1, [90.0, 70.0, 50.0])
    write_run(tmp_path / "HGCLIP" / "seed2", 2, [80.0, 60.0, 40.0])
    (tmp_path / "empty").mkdir()
    means = parse_test_res.main([str(tmp_path), "--multi-exp"])
    assert list(means) == ["CoOp", "HGCLIP"]
    out = capsys.readouterr().out
    assert out.count("Summary of directory:") == 2 and "Average performance" in out
    assert "* family_top1: 77.50% (mean of 2 experiments)" in out  # mean of 70 and 85


def test_base_new_hm_of_seed_averages(tmp_path, capsys):
    base, new = tmp_path / "train_base", tmp_path / "test_new"
    write_run(base / "seed1", 1, [90.0, 90.0, 90.0], 90.0, "base")
    write_run(base / "seed2", 2, [10.0, 10.0, 10.0], 10.0, "base")
    write_run(new / "seed1", 1, [10.0, 10.0, 10.0], 10.0, "new")
    write_run(new / "seed2", 2, [90.0, 90.0, 90.0], 90.0, "new")
    summary = parse_test_res.main([str(base), "--base-new", str(new)])
    assert summary["per_level"]["object"]["hm"] == pytest.approx(50.0)  # average of per-seed HMs would be 18
    out = capsys.readouterr().out
    assert "* object: base 50.00% new 50.00% HM 50.00%" in out
    assert "* full_path: base 50.00% new 50.00% HM 50.00%" in out
    assert out.count("file: ") == 4


def test_base_new_multi_exp_pairs_subdirectories(tmp_path, capsys):
    base, new = tmp_path / "train_base", tmp_path / "test_new"
    write_run(base / "HGCLIP" / "seed1", 1, [80.0, 80.0, 80.0], 80.0, "base")
    write_run(new / "HGCLIP" / "seed1", 1, [40.0, 40.0, 40.0], 40.0, "new")
    summaries = parse_test_res.main([str(base), "--base-new", str(new), "--multi-exp"])
    assert summaries["HGCLIP"]["per_level"]["family"]["hm"] == pytest.approx(2 * 80 * 40 / 120)
    write_run(base / "CoOp" / "seed1", 1, [80.0, 80.0, 80.0], 80.0, "base")
    with pytest.raises(SystemExit, match="test_new/CoOp: no such directory"):
        parse_test_res.main([str(base), "--base-new", str(new), "--multi-exp"])


def test_nothing_found(tmp_path):
    (tmp_path / "seed1").mkdir()
    with pytest.raises(SystemExit, match=f"^Nothing found in {tmp_path}"):
        parse_test_res.main([str(tmp_path)])
    with pytest.raises(SystemExit, match="no such directory"):
        parse_test_res.main([str(tmp_path / "missing")])


def test_cli_error_is_one_line(tmp_path):
    proc = run_python("parse_test_res.py", str(tmp_path), timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith(f"Nothing found in {tmp_path}")
    assert "Traceback" not in proc.stderr
