"""report.html and comparison.html (issue 19, item 3): the data they show, self-containment and escaping.

The page is opened in a real headless Chromium by ``tests/e2e/test_html_report.py``; here the
written file is read back as text, and its embedded JSON as data.
"""
from __future__ import annotations

import json
import os
import re

import pytest
import torch
from evaluator_helpers import LABELS, LOGITS
from evaluator_helpers import make_cfg as toy_cfg
from yacs.config import CfgNode

import hgclip.evaluation  # noqa: F401  (registers the evaluator)
from hgclip.evaluation import Hierarchical
from hgclip.evaluation.comparison_report import comparison_html_data, write_reports
from hgclip.evaluation.html_page import embed_json, render_page
from hgclip.evaluation.html_report import node_accuracy, pair_lca
from hgclip.evaluation.thumbnails import thumbnail_base64
from hgclip.hierarchy import Hierarchy
from hgclip.runtime.run_dir import clear_run

HOSTILE = '</script><img src=x onerror=alert(1)>'


def make_cfg(output_dir: str, **test_keys) -> CfgNode:
    """The toy evaluation's config, with the report on unless a test says otherwise."""
    return toy_cfg(output_dir, **{"HTML_REPORT": True, **test_keys})


def page_data(path) -> dict:
    """The JSON blob of a written page, as the page's script reads it."""
    text = open(path, encoding="utf-8").read()
    blob = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, flags=re.S).group(1)
    return json.loads(blob)


def assert_self_contained(text: str) -> None:
    assert not re.search(r"https?:|//[a-z]", text, flags=re.I), "the page refers to something outside itself"
    assert not re.search(r"<(link|iframe|object|embed)\b|<script[^>]*\bsrc=|@import|url\(", text, flags=re.I)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_node_accuracy_and_lowest_common_ancestors(toy):
    preds = torch.tensor([[0, 0], [0, 2], [0, 1]])  # the toy batch's per-level predictions
    targets = torch.tensor([[0, 0], [0, 1], [1, 2]])
    correct, total = node_accuracy(preds, targets, toy.level_sizes)
    # animal: 2 samples, both right at the coarse level; vehicle: 1, wrong; cat right, dog wrong, car wrong
    assert total == [2, 1, 1, 1, 1] and correct == [2, 0, 1, 0, 0]
    assert pair_lca(2, 3, toy.parents) == (0, 1)  # cat, dog: siblings under animal
    assert pair_lca(2, 4, toy.parents) == (-1, 2)  # cat, car: only the root
    assert pair_lca(0, 1, toy.parents) == (-1, 1)
    assert pair_lca(3, 3, toy.parents) == (3, 0)


def test_evaluation_writes_one_self_contained_report(toy, tmp_path, capsys):
    evaluator = Hierarchical(make_cfg(str(tmp_path), CONFUSIONS_TOP_K=5), hierarchy=toy)
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    assert sorted(os.listdir(tmp_path)) == ["confusions.json", "report.html", "results.json"]
    assert f"Wrote {tmp_path / 'report.html'}" in capsys.readouterr().out
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(text)
    assert text.count("<script") == 2 and text.count("</script>") == 2
    data = page_data(tmp_path / "report.html")
    results = json.loads((tmp_path / "results.json").read_text())
    assert data["kind"] == "run" and data["title"] == "HGCLIP on Toy"
    assert [level["name"] for level in data["levels"]] == ["coarse", "fine"]
    assert data["levels"][1]["values"][0] == results["per_level"]["fine"]["top1"]
    tree = data["tree"]
    assert tree["names"] == ["animal", "vehicle", "cat", "dog", "car"] and tree["parents"] == [-1, -1, 0, 0, 1]
    assert tree["total"] == [2, 1, 1, 1, 1] and tree["correct"] == [2, 0, 1, 0, 0]
    fine = data["confusions"][1]
    assert fine["level"] == "fine" and fine["num_mistakes"] == 2
    dog_car = next(p for p in fine["pairs"] if p["true_name"] == "dog")
    assert (dog_car["predicted_name"], dog_car["lca"], dog_car["height"], dog_car["examples"]) == ("car", None, 2, [])
    car_dog = next(p for p in fine["pairs"] if p["true_name"] == "car")
    assert car_dog["lca"] is None and car_dog["share_of_true"] == 100.0
    assert data["images"] == []  # no saved predictions: no example images
    assert {row["label"] for row in data["summary"]} >= {"accuracy", "full path", "HCA"}


def test_hostile_class_names_stay_text(tmp_path):
    hierarchy = Hierarchy(("group", "class"), [(HOSTILE, 'a & "b" <c>'), (HOSTILE, "<b>bold</b>")])
    evaluator = Hierarchical(make_cfg(str(tmp_path)), hierarchy=hierarchy)
    evaluator.process(torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]), torch.tensor([0, 1]))
    evaluator.evaluate()
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert HOSTILE not in text and "<img" not in text and "<c>" not in text and "<b>bold</b>" not in text
    assert text.count("</script>") == 2
    assert page_data(tmp_path / "report.html")["tree"]["names"] == [HOSTILE, 'a & "b" <c>', "<b>bold</b>"]
    assert embed_json({"x": "</script><!--\u2028"}) == '{"x":"\\u003c/script\\u003e\\u003c!--\\u2028"}'
    page = render_page({"kind": "run", "title": HOSTILE})
    assert "<title>&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;</title>" in page
    with pytest.raises(ValueError, match="kind must be"):
        render_page({"kind": "other"})


def test_example_images_come_from_saved_predictions_and_unreadable_ones_are_skipped(toy, tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (200, 100), (200, 30, 30)).save(images / "dog.png")
    (images / "broken.jpg").write_text("not an image")
    out = tmp_path / "run"
    evaluator = Hierarchical(make_cfg(str(out), SAVE_PREDICTIONS=True), hierarchy=toy)
    batch = torch.cat([LOGITS, LOGITS[1:]]), torch.cat([LABELS, LABELS[1:]])  # dog -> car twice, car -> dog twice
    evaluator.process(*batch, impaths=["cat.png", str(images / "dog.png"), str(images / "broken.jpg"),
                                       str(images / "dog.png"), str(images / "missing.png")])
    evaluator.evaluate()
    data = page_data(out / "report.html")
    assert len(data["images"]) == 1  # one readable file, made into a thumbnail once
    assert data["images"][0]["title"] == "#1: dog.png"
    fine = {p["true_name"]: p for p in data["confusions"][1]["pairs"]}
    assert fine["dog"]["examples"] == [0] and fine["car"]["examples"] == []
    assert_self_contained((out / "report.html").read_text(encoding="utf-8").replace(data["images"][0]["data"], ""))
    small = thumbnail_base64(str(images / "dog.png"), size=32)
    import base64
    import io

    with Image.open(io.BytesIO(base64.b64decode(small))) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 32
    assert thumbnail_base64(str(images / "broken.jpg")) is None and thumbnail_base64(None) is None


def test_flat_classifier_report_and_the_switch(tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path)), lab2cname={0: "a", 1: "b"})
    evaluator.process(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1]))
    evaluator.evaluate()
    data = page_data(tmp_path / "report.html")
    assert data["tree"]["names"] == ["a", "b"] and data["tree"]["parents"] == [-1, -1]
    assert data["confusions"][0]["pairs"][0]["lca"] is None
    off = Hierarchical(make_cfg(str(tmp_path), HTML_REPORT=False), lab2cname={0: "a", 1: "b"})
    off.process(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    off.evaluate()  # an earlier evaluation's report would describe another model: removed
    assert sorted(os.listdir(tmp_path)) == ["results.json"]
    bare = CfgNode({"OUTPUT_DIR": str(tmp_path), "TEST": CfgNode({"EVALUATOR": "Hierarchical"})})
    assert Hierarchical(bare).html_report is False  # a bare Dassl config writes results.json only
    (tmp_path / "report.html").write_text("old")
    (tmp_path / "report_val.html").write_text("old")
    assert {"report.html", "report_val.html"} <= set(clear_run(str(tmp_path)))


def test_comparison_page(tmp_path):
    def stats(values):
        mean = sum(values) / len(values)
        return {"mean": mean, "std": 1.0 if len(values) > 1 else 0.0, "n": len(values), "seeds": [1, 2][:len(values)],
                "values": values}

    comparison = {"dataset": "toy", "levels": ["coarse", "fine"], "seeds": [1, 2], "trainers": {
        "CoOp": {"per_level": {"coarse": stats([80.0, 90.0]), "fine": stats([50.0, 52.0])}, "full_path": stats([40.0, 42.0]),
                 "metrics": {}, "config": "tiny"},
        HOSTILE: {"per_level": {"coarse": stats([70.0]), "fine": stats([60.0])}, "full_path": stats([30.0]),
                  "metrics": {}, "config": ""},
    }}
    data = comparison_html_data(comparison)
    assert data["kind"] == "comparison" and data["trainers"] == ["CoOp", HOSTILE]
    labels = [row["label"] for row in data["rows"]]
    assert labels == ["l1 (coarse)", "l2 (fine)", "full path"]
    assert data["rows"][0]["best"] == ["CoOp"] and data["rows"][1]["best"] == [HOSTILE]
    assert data["rows"][0]["cells"]["CoOp"] == {"mean": 85.0, "std": 1.0, "n": 2, "text": "85.00 ± 1.00"}
    paths = write_reports(comparison, str(tmp_path))
    assert sorted(paths) == ["csv", "html", "md", "png"]
    text = open(paths["html"], encoding="utf-8").read()
    assert_self_contained(text)
    assert HOSTILE not in text and page_data(paths["html"])["rows"] == data["rows"]


def test_benchmark_runs_at_a_small_size(tmp_path):
    """``python -m hgclip.benchmarks.bench_html_report`` works; its timing is recorded in the docs, never asserted."""
    from hgclip.benchmarks.bench_html_report import time_report

    results = time_report(samples=2000, repeats=1, root=str(tmp_path))
    assert set(results) == {"with images", "without images"}
    assert results["with images"]["thumbnails"] > 0 and results["without images"]["thumbnails"] == 0
    assert all(row["nodes"] == 1000 and row["samples"] == 2000 and row["seconds"] > 0 for row in results.values())


# ---------------------------------------------------------------- polish: numbers, subtitle, headers, legend
HALVES = [(86.25, 1), (0.125, 2), (2.675, 2), (0.05, 1), (12.5, 0), (99.95, 1), (33.345, 2)]


@pytest.mark.parametrize("value, decimals", HALVES)
def test_numbers_are_formatted_as_the_log_formats_them(value, decimals):
    from hgclip.evaluation.html_page import number_text

    assert number_text(value, decimals) == f"{value:.{decimals}f}"  # Python rounds 86.25 to 86.2, toFixed to 86.3
    assert number_text(value, decimals, "%") == f"{value:.{decimals}f}%"
    assert number_text(None, 1) == number_text(float("nan"), 1) == "\u2013"


def test_the_page_shows_the_logs_number_for_a_half(tmp_path, capsys):
    """69 of 80 right: top-1 86.25, printed 86.2 by the log; the page says 86.2 too, and its script never rounds."""
    evaluator = Hierarchical(make_cfg(str(tmp_path)), lab2cname={0: "a", 1: "b"})
    labels = torch.tensor([0] * 80)
    logits = torch.tensor([[1.0, 0.0]] * 69 + [[0.0, 1.0]] * 11)
    evaluator.process(logits, labels)
    evaluator.evaluate()
    log = capsys.readouterr().out
    data = page_data(tmp_path / "report.html")
    assert data["levels"][0]["values"][0] == 86.25
    row = next(line for line in log.splitlines() if line.split()[:1] == [data["levels"][0]["name"]])
    assert row.split()[2] == "86.2" and data["levels"][0]["texts"][0] == "86.2%"
    accuracy = next(m for m in data["summary"] if m["label"] == "accuracy")
    assert f"accuracy: {accuracy['text']}" in log and accuracy["text"].startswith("86.2")
    assert data["tree"]["accuracy_texts"] == ["86.2%", "n/a"]
    share = data["confusions"][0]["pairs"][0]
    assert share["share_text"] == f"{100 * 11 / 80:.1f}%" == "13.8%"
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "toFixed" not in text and ".toPrecision" not in text  # every number on the page comes from Python


def test_comparison_cells_are_the_markdowns_text(tmp_path):
    comparison = {"dataset": "toy", "levels": ["fine"], "seeds": [1, 2], "trainers": {
        "CoOp": {"per_level": {"fine": {"mean": 86.125, "std": 0.125, "n": 2, "seeds": [1, 2], "values": [86.0, 86.25]}},
                 "full_path": {"mean": 86.125, "std": 0.125, "n": 2, "seeds": [1, 2], "values": [86.0, 86.25]},
                 "metrics": {}, "config": ""}}}
    data = comparison_html_data(comparison)
    assert data["rows"][0]["cells"]["CoOp"]["text"] == "86.12 ± 0.12"  # Python's rounding, as comparison.md
    markdown = write_reports(comparison, str(tmp_path)) and (tmp_path / "comparison.md").read_text(encoding="utf-8")
    assert "86.12 ± 0.12" in markdown


def _report(results: dict, trained: bool = True) -> dict:
    from hgclip.evaluation.html_report import run_report_data
    from hgclip.evaluation.scores import Layout

    layout = Layout(("class",), (2,), None)
    targets = torch.tensor([[0], [1]])
    return run_report_data(results, layout, [["a", "b"]], targets, targets, trained=trained)


@pytest.mark.parametrize("shots, trained, expected", [
    (16, True, "16 shots"), (-1, True, "all training images"), (-1, False, None), (4, False, None)])
def test_the_subtitle_says_something_true_about_shots(shots, trained, expected):
    subtitle = _report({"trainer": "X", "dataset": "Y", "num_shots": shots, "num_samples": 2}, trained)["subtitle"]
    assert "-1" not in subtitle
    if expected is None:
        assert "shot" not in subtitle and "training images" not in subtitle
    else:
        assert subtitle.endswith(expected)


def test_zero_shot_trainer_reports_no_shots():
    from hgclip.registry import trainer_class

    assert trainer_class("ZeroshotCLIP").HAS_PARAMETERS is False  # what the trainer hands the evaluator as `trained`


def test_headers_align_with_their_columns(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path), CONFUSIONS_TOP_K=5), hierarchy=toy)
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    data = page_data(tmp_path / "report.html")
    align = {h["label"]: h["align"] for h in data["confusion_headers"]}
    assert align == {"true": "left", "predicted": "left", "count": "right", "share of true": "right",
                     "lowest common ancestor": "left", "height": "right", "examples": "left"}
    assert [h["align"] for h in data["level_headers"]] == ["left"] + ["right"] * (len(data["level_headers"]) - 1)
    assert len(data["level_headers"]) == 2 + len(data["levels"][0]["values"])
    assert [h["align"] for h in data["summary_headers"]] == ["left", "right"]
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "th.text, td.text { text-align: left; }" in text and "th:first-child" not in text
    comparison = comparison_html_data({"dataset": "toy", "levels": ["fine"], "seeds": [1], "trainers": {
        "A": {"per_level": {"fine": None}, "full_path": None, "metrics": {}, "config": ""}}})
    assert comparison["headers"] == [{"label": "level / metric", "align": "left"}, {"label": "A", "align": "right"}]


def test_the_colour_legend_is_shown_wherever_colours_are():
    """Each drawing function that colours by accuracy (levels table, tree, comparison) draws the legend."""
    from hgclip.evaluation.html_page import _SCRIPT

    sections = re.split(r"\n  function (render\w+)\(", _SCRIPT)
    bodies = dict(zip(sections[1::2], sections[2::2]))
    for name in ("renderLevels", "renderTree", "renderComparison"):
        assert "colour(" in bodies[name] and "legend(" in bodies[name], name
