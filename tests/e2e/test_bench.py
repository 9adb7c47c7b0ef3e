"""cli/bench.py runs end to end (tiny sizes), writes every key docs/benchmarks/index.md promises and its
tables as a Markdown page, and every optimised path it times gives the reference path's numbers. No timing
is asserted. The recorded pages in docs/benchmarks/ are what the renderer makes of their JSON."""
from __future__ import annotations

import json
import os.path as osp

from run_helpers import REPO, run_python

RECORDED = {"cpu-2cores": "cli/bench.py on 2 CPU cores (ViT-B/16 towers)"}  # docs/benchmarks/<name>.{json,md}: title
KEYS = ("setup", "text_speedup", "floor_ratio", "official_ratio", "hgclip_vs_maple", "per_trainer_step",
        "eval_vs_image_encoder", "peak_mem_vs_maple", "scaling")


def _diffs(node, path=""):
    """Every (path, value) whose key names a max abs/rel difference."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from _diffs(value, f"{path}.{key}")
            elif "max_abs_diff" in key or "max_rel_diff" in key:
                yield f"{path}.{key}", value


def test_bench_quick_writes_every_key_and_exact_paths(tmp_path):
    out = tmp_path / "bench.json"
    command = ["-m", "hgclip.cli.bench", "--quick", "--backbone", "tiny", "--threads", "1", "--layers", "2",
               "--nodes", "40", "--binomial-nodes", "40", "--scaling", "40,60", "--official-batches", "2,3",
               "--eval-batches", "1", "--json", str(out), "--markdown", str(tmp_path / "bench.md")]
    result = run_python(*command, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Text encoder forward+backward" in result.stdout and "official_ratio batch_2" in result.stdout
    data = json.loads(out.read_text())
    assert set(KEYS) <= set(data)
    page = (tmp_path / "bench.md").read_text()
    for heading in ("## Text encoder forward+backward", "## One step per trainer", "## Ratios"):
        assert heading in page
    assert "official_ratio batch_2" in page

    for names in ("cifar100", "binomial"):
        text = data["text_speedup"][names]
        assert set(text["ms"]) == {"padded", "truncated", "shared_prefix", "length_packed", "fast"}
        assert text["speedup"] > 0 and text["vs_truncation"] > 0
        counts = text["positions_per_layer"]
        assert counts["fast"] < counts["truncated"] < counts["padded"]
        assert text["shared_prefix_positions"] == 5  # SOS + "a photo of a"
    assert data["text_speedup"]["cifar100"]["prompts"] == 120

    # Float32 sums in another order: the gradients of 120 prompts differ by ~1e-5 absolute on some CPUs, so the
    # check is relative to the reference's largest entry, with a loose absolute bound beside it.
    diffs = list(_diffs(data))
    relative = [(path, value) for path, value in diffs if "max_rel_diff" in path]
    assert len(relative) >= 2 * 4 * 3 + 1  # 2 name sets x 4 paths x (features, 2 gradients) + the official check
    bad = [(path, value) for path, value in relative if not value <= 1e-5]
    bad += [(path, value) for path, value in diffs if "max_abs_diff" in path and not value <= 1e-4]
    assert not bad, bad

    from hgclip.benchmarks.trainer_steps import registered_trainers

    assert set(data["per_trainer_step"]) == set(registered_trainers())
    assert all(row["ms"] > 0 and row["runs"] >= 1 for row in data["per_trainer_step"].values())
    assert set(data["official_ratio"]) == {"batch_2", "batch_3", "check"}
    assert data["peak_mem_vs_maple"]["hgclip_bytes"] > 0 and data["peak_mem_vs_maple"]["maple_bytes"] > 0
    assert data["floor_ratio"]["ratio"] > 0 and data["hgclip_vs_maple"] > 0
    assert data["eval_vs_image_encoder"]["ratio"] > 0
    assert [p["nodes"] for p in data["scaling"]["points"]] == [40, 60]


def test_recorded_benchmark_pages_are_the_renderers_output():
    """docs/benchmarks/<name>.md is render_markdown(<name>.json): a page in exactly the format a run writes."""
    from hgclip.benchmarks.report import render_markdown

    for name, title in RECORDED.items():
        base = osp.join(REPO, "docs", "benchmarks", name)
        with open(base + ".json", encoding="utf-8") as handle:
            record = json.load(handle)
        with open(base + ".md", encoding="utf-8") as handle:
            assert handle.read() == render_markdown(record, title), f"re-render {base}.md from its JSON"
