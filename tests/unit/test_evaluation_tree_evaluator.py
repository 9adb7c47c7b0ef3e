"""The ``Hierarchical`` evaluator's tree metrics, confusions.json, per_level.png and memory bound."""
from __future__ import annotations

import json
import math
import os

import pytest
import torch
from yacs.config import CfgNode

import hgclip.evaluation  # noqa: F401  (registers the evaluator)
from hgclip.evaluation import Hierarchical
from hgclip.evaluation.metric_spec import TREE_METRIC_KEYS
from hgclip.hierarchy import Hierarchy
from hgclip.project import get_cfg

# Global order animal(0) vehicle(1) | cat(2) dog(3) car(4). Per sample (coarse, fine) predictions:
#   gt cat: animal, cat  (right, consistent)
#   gt dog: animal, car  (fine wrong, inconsistent)
#   gt car: animal, dog  (both wrong, consistent)
TOY_LOGITS = torch.tensor([
    [3.0, 0.0, 3.0, 0.0, 0.0],
    [3.0, 0.0, 0.0, 0.0, 3.0],
    [3.0, 0.0, 0.0, 3.0, 0.0],
])
TOY_LABELS = torch.tensor([0, 1, 2])


def make_cfg(output_dir: str = "", **test_keys) -> CfgNode:
    cfg = CfgNode()
    cfg.OUTPUT_DIR = output_dir
    cfg.SEED = 1
    cfg.TRAINER = CfgNode({"NAME": "HGCLIP"})
    cfg.DATASET = CfgNode({"NAME": "HierShapes", "NUM_SHOTS": 2})
    cfg.MODEL = CfgNode({"BACKBONE": CfgNode({"NAME": "tiny"})})
    cfg.TEST = CfgNode({"EVALUATOR": "Hierarchical", **test_keys})
    return cfg


def test_tree_metrics_on_toy_hand_computed(toy, tmp_path, capsys):
    evaluator = Hierarchical(make_cfg(str(tmp_path)), hierarchy=toy)
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    returned = evaluator.evaluate()
    results = evaluator.last_results
    assert list(results) == list(returned) + list(TREE_METRIC_KEYS)
    # two levels: HCA = coarse right and leaf right = full path = 1/3
    assert results["hierarchical_consistent_accuracy"] == pytest.approx(100 / 3)
    # A(pred) / shared: {animal, cat} 2/2; {animal} + {vehicle, car} = 3 nodes, shared {animal} 1;
    # {animal, dog} vs {vehicle, car} 0/2 -> hP = 3/7, hR = 3/6, hF = 2 (3/7)(1/2) / (3/7 + 1/2) = 6/13
    assert results["hierarchical_precision"] == pytest.approx(300 / 7)
    assert results["hierarchical_recall"] == pytest.approx(50.0)
    assert results["hierarchical_f1"] == pytest.approx(600 / 13)
    # toy has four cuts; ties go to the lower node id:
    #   {animal, vehicle}: right, right, wrong (animal 3 > vehicle 0)        -> 2/3
    #   {vehicle, cat, dog}: right; dog's row all 0 -> vehicle wins, wrong; dog 3 wins, wrong -> 1/3
    #   {animal, car}: right; animal 3 = car 3 -> animal, right; animal 3 > car 0, wrong      -> 2/3
    #   {cat, dog, car}: right; car wins, wrong; dog wins, wrong                              -> 1/3
    assert results["mean_treecut_accuracy"] == pytest.approx(50.0)
    assert math.isnan(results["hierarchical_distance_at_5"])  # 3 leaves: top-5 is not informative

    out = capsys.readouterr().out
    for line in ("* hierarchical_consistent_accuracy: 33.3%", "* hierarchical_precision: 42.9%",
                 "* hierarchical_recall: 50.0%", "* hierarchical_f1: 46.2%", "* mean_treecut_accuracy: 50.0%",
                 "HCA: 33.3% | hP / hR / hF: 42.9 / 50.0 / 46.2% | MTA (4 cuts, seed 0): 50.00%"):
        assert line in out, line
    assert "* hierarchical_distance_at_5" not in out

    data = json.loads((tmp_path / "results.json").read_text())
    assert data["hierarchical_consistent_accuracy"] == pytest.approx(33.3333)
    assert data["hierarchical_f1"] == pytest.approx(46.1538)
    assert data["mean_treecut_accuracy"] == pytest.approx(50.0)
    assert data["hierarchical_distance_at_5"] is None
    assert data["valid_paths"] is False and data["decoding"] == "independent"
    cuts = data["tree_cuts"]
    assert cuts["requested"] == 25 and cuts["num_cuts"] == 4 and cuts["seed"] == 0
    assert sorted(cuts["sizes"]) == [2, 2, 3, 3]
    assert sorted(cuts["accuracies"]) == pytest.approx([33.3333, 33.3333, 66.6667, 66.6667])
    assert cuts["std"] == pytest.approx(16.6667)


def test_one_sample_with_a_single_class_level(tmp_path):
    # root level "all" has one class; 7 leaves under it. One sample, gt l2, leaf scores 7 > 6 > ... > 1
    h = Hierarchy(("root", "leaf"), [("all", f"l{i}") for i in range(7)])
    logits = torch.tensor([[0.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    evaluator = Hierarchical(make_cfg(str(tmp_path), CONFUSIONS_TOP_K=5), hierarchy=h)
    evaluator.process(logits, torch.tensor([2]))
    evaluator.evaluate()
    r = evaluator.last_results
    assert r["root_top1"] == 100.0 and r["leaf_top1"] == 0.0  # predicts l0
    assert r["hierarchical_consistent_accuracy"] == 0.0  # the root's single child is right, the leaf is not
    # pred {all, l0} vs true {all, l2}: shared 1 of 2 on both sides
    assert r["hierarchical_precision"] == r["hierarchical_recall"] == r["hierarchical_f1"] == pytest.approx(50.0)
    assert r["hierarchical_distance_at_1"] == 1.0  # l0 and l2 are siblings
    # top-5 leaves l0..l4 against l2: heights 1, 1, 0, 1, 1 -> 0.8
    assert r["hierarchical_distance_at_5"] == pytest.approx(0.8)
    # the two cuts: {all} (always right) and the 7 leaves (wrong) -> 50%
    assert r["mean_treecut_accuracy"] == pytest.approx(50.0)
    confusions = json.loads((tmp_path / "confusions.json").read_text())
    assert confusions["per_level"]["root"] == {"num_samples": 1, "num_mistakes": 0, "pairs": []}
    assert confusions["per_level"]["leaf"]["pairs"] == [
        {"true": 2, "true_name": "l2", "predicted": 0, "predicted_name": "l0", "count": 1, "share_of_true": 100.0}]


def test_confusions_json_most_confused_pairs(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path), CONFUSIONS_TOP_K=10), hierarchy=toy)
    for _ in range(2):  # twice the toy batch: every pair counts 2
        evaluator.process(TOY_LOGITS, TOY_LABELS)
    evaluator.process(TOY_LOGITS[1:2], TOY_LABELS[1:2])  # dog -> car once more: 3
    evaluator.evaluate()
    assert sorted(os.listdir(tmp_path)) == ["confusions.json", "results.json"]  # atomic: no temporary file
    data = json.loads((tmp_path / "confusions.json").read_text())
    assert data["split"] == "test" and data["top_k"] == 10 and data["levels"] == ["coarse", "fine"]
    fine = data["per_level"]["fine"]
    assert fine["num_samples"] == 7 and fine["num_mistakes"] == 5
    assert [(p["true_name"], p["predicted_name"], p["count"]) for p in fine["pairs"]] == [
        ("dog", "car", 3), ("car", "dog", 2)]
    assert fine["pairs"][0]["share_of_true"] == 100.0  # every dog went to car
    coarse = data["per_level"]["coarse"]["pairs"]
    assert coarse == [{"true": 1, "true_name": "vehicle", "predicted": 0, "predicted_name": "animal", "count": 2,
                       "share_of_true": 100.0}]

    one = Hierarchical(make_cfg(str(tmp_path / "k1"), CONFUSIONS_TOP_K=1), hierarchy=toy)
    one.split = "val"
    one.process(TOY_LOGITS, TOY_LABELS)
    one.evaluate()
    val = json.loads((tmp_path / "k1" / "confusions_val.json").read_text())
    assert len(val["per_level"]["fine"]["pairs"]) == 1  # ties (1 each) keep the lower (true, predicted) code
    assert val["per_level"]["fine"]["pairs"][0]["true_name"] == "dog"


def test_project_config_writes_confusions_report_and_optional_png(toy, tmp_path):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path)
    evaluator = Hierarchical(cfg, hierarchy=toy)
    assert (evaluator.num_cuts, evaluator.cuts_seed, evaluator.confusions_top_k, evaluator.plot) == (25, 0, 10, False)
    assert evaluator.html_report is True
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    evaluator.evaluate()
    assert sorted(os.listdir(tmp_path)) == ["confusions.json", "report.html", "results.json"]

    from PIL import Image

    cfg.TEST.PLOT_PER_LEVEL = True
    plotted = Hierarchical(cfg, hierarchy=toy)
    plotted.process(TOY_LOGITS, TOY_LABELS)
    plotted.evaluate()
    with Image.open(tmp_path / "per_level.png") as image:
        assert image.format == "PNG" and image.size[0] >= 600
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000)) > 10  # bars and text, not blank
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def test_tree_cut_settings_are_recorded_and_validated(tmp_path):
    h = Hierarchy(("a", "b", "c"), [(f"a{i // 6}", f"b{i // 2}", f"c{i}") for i in range(12)])
    logits = torch.randn(20, h.num_nodes, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(20) % 12
    records = []
    for seed in (0, 1):
        evaluator = Hierarchical(make_cfg(str(tmp_path / str(seed)), TREE_CUTS=CfgNode({"NUM": 6, "SEED": seed})),
                                 hierarchy=h)
        evaluator.process(logits, labels)
        evaluator.evaluate()
        records.append(json.loads((tmp_path / str(seed) / "results.json").read_text())["tree_cuts"])
    assert [r["seed"] for r in records] == [0, 1] and all(r["num_cuts"] == r["requested"] == 6 for r in records)
    assert records[0]["rates"] == [0.9, 0.9, 0.7, 0.5, 0.3, 0.1]  # 6 cuts over the 5 rates, in blocks
    with pytest.raises(ValueError, match=r"^TEST.TREE_CUTS.NUM: expected an integer >= 0, got -1$"):
        Hierarchical(make_cfg(TREE_CUTS=CfgNode({"NUM": -1})), hierarchy=h)
    with pytest.raises(ValueError, match="TEST.CONFUSIONS_TOP_K: expected an integer"):
        Hierarchical(make_cfg(CONFUSIONS_TOP_K="ten"), hierarchy=h)
    none = Hierarchical(make_cfg(TREE_CUTS=CfgNode({"NUM": 0})), hierarchy=h)
    none.process(logits, labels)
    none.evaluate()
    assert math.isnan(none.last_results["mean_treecut_accuracy"])  # no cuts: undefined, not 0


def test_flat_mode_tree_metrics(tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path)), lab2cname={i: f"c{i}" for i in range(6)})
    evaluator.process(torch.eye(6)[[0, 1, 2, 0]], torch.tensor([0, 1, 2, 3]))
    evaluator.evaluate()
    r = evaluator.last_results
    # one level: HCA, hP/hR/hF and the only cut (the class set) all equal the accuracy, 3/4
    for key in ("hierarchical_consistent_accuracy", "hierarchical_precision", "hierarchical_recall",
                "hierarchical_f1", "mean_treecut_accuracy"):
        assert r[key] == pytest.approx(75.0), key
    assert math.isnan(r["hierarchical_distance_at_5"])  # no tree
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["tree_cuts"]["num_cuts"] == 1 and data["tree_cuts"]["sizes"] == [6]
    assert data["valid_paths"] is True


def test_without_tree_metrics_keeps_the_old_report(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path)), hierarchy=toy, tree_metrics=False)
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    returned = evaluator.evaluate()
    assert evaluator.last_results == returned
    data = json.loads((tmp_path / "results.json").read_text())
    assert not set(TREE_METRIC_KEYS) & set(data) and "tree_cuts" not in data


def test_path_and_top_down_decoding_in_the_evaluator(toy, tmp_path):
    for decoding in ("path", "top_down"):
        evaluator = Hierarchical(make_cfg(str(tmp_path / decoding)), hierarchy=toy, decoding=decoding)
        evaluator.process(TOY_LOGITS, TOY_LABELS)
        assert evaluator.evaluate()["path_consistency"] == 100.0
        data = json.loads((tmp_path / decoding / "results.json").read_text())
        assert data["decoding"] == decoding and data["valid_paths"] is True
        # consistent predictions: hP = hR = hF = mean per-level top-1
        mean_top1 = (data["per_level"]["coarse"]["top1"] + data["per_level"]["fine"]["top1"]) / 2
        assert data["hierarchical_precision"] == data["hierarchical_recall"] == pytest.approx(mean_top1, abs=1e-3)


def test_memory_stays_per_sample():
    """No [B, num_nodes] tensor is kept: what accumulates is O(N * (L + number of cuts))."""
    h = Hierarchy(("a", "b", "c", "d"), [(f"a{i // 40}", f"b{i // 10}", f"c{i // 2}", f"d{i}") for i in range(120)])
    evaluator = Hierarchical(make_cfg(), hierarchy=h)
    g = torch.Generator().manual_seed(0)
    n = 0
    for _ in range(10):
        evaluator.process(torch.randn(300, h.num_nodes, generator=g), torch.randint(0, 120, (300,), generator=g))
        n += 300
    stored = [t for name in ("_preds", "_targets", "_top5", "_hca", "_hdist5", "_cut_hits")
              for t in getattr(evaluator, name)]
    num_cuts = evaluator.tree_cuts(h).num_cuts
    assert sum(t.numel() for t in stored) == n * (3 * h.num_levels + 2 + num_cuts)
    assert all(h.num_nodes not in t.shape for t in stored)
