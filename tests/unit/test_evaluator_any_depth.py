"""The evaluator on an any-depth tree (leaves at depths 2, 3, 4; ``y`` and ``b1`` have one child), by hand.

Global ids: depth1 A0 B1 | depth2 a1 2, a2 3, b1 4, b2 5 | depth3 x6 y7 z8 | depth4 y1 9; leaves 0..4 =
a1, x, y1, z, b2. Independent decoding: the leaf is the argmax of the leaves' own logits, and each
depth's argmax down to its depth is the predicted path (-1 below).

sample  true  pred   predicted path    note
0       y1    y1     A a2 y y1         right
1       x     y1     A a2 x y1         depth3 right, leaf wrong, not a path
2       b2    z      B b1 z            LCA B
3       a1    a1     A a1              right, at depth 2
4       z     b2     B b2              the path stops above z's depth 3
"""
import json

import pytest
import torch
from evaluator_helpers import make_cfg

import hgclip.evaluation  # noqa: F401  (registers the evaluator)
from hgclip.evaluation import Hierarchical
from hgclip.evaluation.any_depth_levels import NO_PREDICTION
from hgclip.hierarchy import parse_hierarchy_text

TEXT = "levels: any\nA > a1\nA > a2 > x\nA > a2 > y > y1\nB > b1 > z\nB > b2\n"
SET = [{0: 5, 3: 5, 7: 5, 9: 6}, {0: 5, 3: 5, 6: 4, 7: 3, 9: 6}, {1: 5, 4: 5, 5: 4, 8: 7},
       {0: 5, 2: 6}, {1: 5, 5: 6}]
LOGITS = torch.zeros(5, 10)
for row, entries in enumerate(SET):
    for node, value in entries.items():
        LOGITS[row, node] = float(value)
LABELS = torch.tensor([2, 1, 4, 0, 3])


@pytest.fixture
def run(tmp_path):
    h = parse_hierarchy_text(TEXT)
    cfg = make_cfg(str(tmp_path), CONFUSIONS_TOP_K=5, PER_CLASS_RESULT=True, COMPUTE_CMAT=True,
                   SAVE_PREDICTIONS=True, HTML_REPORT=True)
    evaluator = Hierarchical(cfg, hierarchy=h)
    evaluator.process(LOGITS, LABELS, impaths=[f"img{i}.png" for i in range(5)])
    evaluator.evaluate()
    return evaluator, tmp_path


def test_metrics_count_each_depth_over_the_samples_that_reach_it(run):
    evaluator, out = run
    r = evaluator.last_results
    assert r["accuracy"] == pytest.approx(40.0)  # leaves: samples 0 and 3
    # depth2: a2 a2 b1 a1 b2 vs a2 a2 b2 a1 b1 -> 3/5; depth3 (samples 0, 1, 4): y x - vs y x z -> 2/3; depth4: 1/1
    assert [r[f"depth{d}_top1"] for d in (1, 2, 3, 4)] == pytest.approx([100.0, 60.0, 200 / 3, 100.0])
    # depth2 macro F1 over the true classes a2 (F1 1), b2 (0), a1 (1), b1 (0); depth3: y 1, x 1, z 0 (never predicted)
    assert r["depth2_macro_f1"] == pytest.approx(50.0) and r["depth3_macro_f1"] == pytest.approx(200 / 3)
    assert r["full_path_accuracy"] == pytest.approx(40.0)
    assert r["path_consistency"] == pytest.approx(80.0)  # only sample 1's path is not y1's
    # mistakes x->y1 (LCA a2 at depth 2: 4 - 2 = 2), b2->z and z->b2 (LCA B at depth 1: 3)
    assert r["mistake_severity"] == pytest.approx(8 / 3) and r["hierarchical_distance_at_1"] == pytest.approx(1.6)
    assert r["hierarchical_consistent_accuracy"] == pytest.approx(40.0)
    # shared / predicted / true nodes: 4/4/4, 3/5/3, 1/3/2, 2/2/2, 1/2/3
    assert r["hierarchical_precision"] == pytest.approx(100 * 11 / 16)
    assert r["hierarchical_recall"] == pytest.approx(100 * 11 / 14)
    results = json.loads((out / "results.json").read_text())
    assert results["levels"] == ["depth1", "depth2", "depth3", "depth4"] and results["accuracy"] == 40.0


def test_confusions_name_a_path_that_stopped_above_and_leaf_pairs_carry_their_lca(run):
    _, out = run
    confusions = json.loads((out / "confusions.json").read_text())
    depth3 = confusions["per_level"]["depth3"]
    assert depth3["num_samples"] == 3 and depth3["num_mistakes"] == 1
    assert [(p["true_name"], p["predicted_name"]) for p in depth3["pairs"]] == [("z", NO_PREDICTION)]
    assert confusions["per_level"]["depth4"] == {"num_samples": 1, "num_mistakes": 0, "pairs": []}
    leaf = confusions["leaf"]
    assert leaf["num_samples"] == 5 and leaf["num_mistakes"] == 3
    assert [(p["true_name"], p["predicted_name"], p["lca"], p["lca_depth"], p["lca_height"]) for p in leaf["pairs"]] == [
        ("x", "y1", "a2", 2, 2), ("z", "b2", "B", 1, 3), ("b2", "z", "B", 1, 3)]


def test_per_class_cmat_predictions_and_report(run):
    _, out = run
    per_class = json.loads((out / "results.json").read_text())["per_class_accuracy"]["depth3"]["classes"]
    assert [(c["name"], c["num_samples"], c["correct"]) for c in per_class] == [("x", 1, 1), ("y", 1, 1), ("z", 1, 0)]
    cmat = json.loads((out / "cmat.json").read_text())["per_level"]["depth3"]["matrix"]
    assert cmat == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]  # sample 4 predicted nothing at depth 3
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    last = lines[4]
    assert last["true"] == {"depth1": "B", "depth2": "b1", "depth3": "z"}
    assert last["predicted"] == {"depth1": "B", "depth2": "b2"}
    assert last["correct"] == {"depth1": True, "depth2": False, "depth3": False}
    assert last["leaf"]["true"] == "z" and last["leaf"]["predicted"] == "b2" and not last["leaf"]["correct"]
    assert [c["class"] for c in last["leaf"]["top5"]][:1] == ["b2"]
    assert lines[3]["true"] == {"depth1": "A", "depth2": "a1"} and lines[3]["leaf"]["correct"]
    html = (out / "report.html").read_text()
    assert NO_PREDICTION in html and "y1" in html


@pytest.mark.parametrize("decoding", ["independent", "bottom_up", "top_down", "path", "chils", "chils_hat",
                                      "chils_supagg"])
def test_every_decoder_evaluates_on_the_tree(decoding, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path)), hierarchy=parse_hierarchy_text(TEXT), decoding=decoding)
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["decoding"] == decoding and 0 <= results["accuracy"] <= 100
    if decoding in ("top_down", "path"):
        assert results["path_consistency"] == 100.0
