"""The ``Hierarchical`` evaluator: registry, printed report, results.json, flat mode, errors."""
import json
import math
import os

import pytest
import torch
from yacs.config import CfgNode

import hgclip.evaluation  # noqa: F401  (registers the evaluator)
from hgclip.evaluation import Hierarchical
from hgclip.hierarchy import Hierarchy
from hgclip.runtime.dassl_api import EVALUATOR_REGISTRY, build_evaluator, get_cfg_default


def make_cfg(output_dir: str = "", subsample: bool = True) -> CfgNode:
    """The few config keys the evaluator reads."""
    cfg = CfgNode()
    cfg.OUTPUT_DIR = output_dir
    cfg.SEED = 3
    cfg.TRAINER = CfgNode({"NAME": "HGCLIP"})
    cfg.DATASET = CfgNode({"NAME": "HierShapes", "NUM_SHOTS": 4})
    if subsample:
        cfg.DATASET.SUBSAMPLE_CLASSES = "base"
    cfg.MODEL = CfgNode({"BACKBONE": CfgNode({"NAME": "tiny"})})
    cfg.TEST = CfgNode({"EVALUATOR": "Hierarchical"})
    return cfg


# 3 samples (see test_evaluation_metrics): correct+consistent; fine wrong, inconsistent; both wrong, consistent
TOY_LOGITS = torch.tensor(
    [
        [3.0, 0.0, 3.0, 0.0, 0.0],  # gt cat: animal, cat
        [3.0, 0.0, 0.0, 0.0, 3.0],  # gt dog: animal, car
        [3.0, 0.0, 0.0, 3.0, 0.0],  # gt car: animal, dog
    ]
)
TOY_LABELS = torch.tensor([0, 1, 2])


def test_registered_and_built_from_default_config(toy, tmp_path):
    assert EVALUATOR_REGISTRY.get("Hierarchical") is Hierarchical
    cfg = get_cfg_default()  # the engine's defaults, without the project's extra keys
    cfg.TEST.EVALUATOR = "Hierarchical"
    cfg.OUTPUT_DIR = str(tmp_path)
    evaluator = build_evaluator(cfg, lab2cname={0: "cat", 1: "dog", 2: "car"}, hierarchy=toy)
    assert isinstance(evaluator, Hierarchical)
    assert evaluator.hierarchy is toy and evaluator.split == "test"
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    evaluator.evaluate()
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["subsample"] == "all" and data["levels"] == ["coarse", "fine"]


def test_toy_metrics_hand_computed(toy, capsys):
    evaluator = Hierarchical(make_cfg(), hierarchy=toy)
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    results = evaluator.evaluate()

    assert list(results)[0] == "accuracy"
    assert list(results) == [
        "accuracy",
        "coarse_top1", "coarse_macro_f1",
        "fine_top1", "fine_macro_f1",
        "full_path_accuracy", "path_consistency", "mistake_severity", "hierarchical_distance_at_1", "num_samples",
    ]  # no top-5 keys: both levels have <= 5 classes
    assert results["accuracy"] == pytest.approx(100 / 3)
    assert results["fine_top1"] == pytest.approx(100 / 3)
    assert results["coarse_top1"] == pytest.approx(200 / 3)
    # fine: cat F1=1, dog 0, car 0 -> 1/3; coarse: animal TP=2 FP=1 -> 0.8, vehicle 0 -> 0.4
    assert results["fine_macro_f1"] == pytest.approx(100 / 3)
    assert results["coarse_macro_f1"] == pytest.approx(40.0)
    assert results["full_path_accuracy"] == pytest.approx(100 / 3)
    assert results["path_consistency"] == pytest.approx(200 / 3)
    assert results["mistake_severity"] == pytest.approx(2.0)  # both mistakes cross the root
    assert results["hierarchical_distance_at_1"] == pytest.approx(4 / 3)
    assert results["num_samples"] == 3

    out = capsys.readouterr().out
    assert "=> result" in out
    assert "* total: 3" in out
    assert "* accuracy: 33.3%" in out
    for line in ("* coarse_top1: 66.7%", "* coarse_macro_f1: 40.0%", "* fine_top1: 33.3%",
                 "* full_path_accuracy: 33.3%", "* path_consistency: 66.7%", "* mistake_severity: 2.00"):
        assert line in out
    assert "top-5" in out and "macro-F1" in out  # the table header
    assert out.index("coarse") < out.index("fine")  # table rows coarse -> fine


def test_top5_only_for_levels_with_more_than_five_classes():
    fine = [f"leaf{i}" for i in range(7)]
    h = Hierarchy(("group", "leaf"), [("g0" if i < 4 else "g1", name) for i, name in enumerate(fine)])
    leaf_logits = torch.tensor(
        [
            [7.0, 6, 5, 4, 3, 2, 1],  # gt 0: top-1
            [7.0, 6, 5, 4, 3, 2, 1],  # gt 4: rank 5 -> top-5 hit
            [7.0, 6, 5, 4, 3, 2, 1],  # gt 6: rank 7 -> miss
        ]
    )
    coarse = torch.tensor([[1.0, 0.0]] * 3)
    evaluator = Hierarchical(make_cfg(), hierarchy=h)
    evaluator.process(torch.cat([coarse, leaf_logits], dim=1), torch.tensor([0, 4, 6]))
    results = evaluator.evaluate()
    assert "group_top5" not in results
    assert results["leaf_top1"] == pytest.approx(100 / 3)
    assert results["leaf_top5"] == pytest.approx(200 / 3)
    assert list(results)[:4] == ["accuracy", "group_top1", "group_macro_f1", "leaf_top1"]


def test_every_sample_counted_across_batches(toy):
    evaluator = Hierarchical(make_cfg(), hierarchy=toy)
    g = torch.Generator().manual_seed(0)
    total = 0
    for batch_size in (1, 4, 7, 2):
        logits = torch.randn(batch_size, toy.num_nodes, generator=g)
        evaluator.process(logits, torch.randint(0, 3, (batch_size,), generator=g))
        total += batch_size
    results = evaluator.evaluate()
    assert results["num_samples"] == total == 14

    # one batch gives the same numbers as many
    split = Hierarchical(make_cfg(), hierarchy=toy)
    whole = Hierarchical(make_cfg(), hierarchy=toy)
    for i in range(3):
        split.process(TOY_LOGITS[i : i + 1], TOY_LABELS[i : i + 1])
    whole.process(TOY_LOGITS, TOY_LABELS)
    assert split.evaluate() == whole.evaluate()

    evaluator.reset()
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    assert evaluator.evaluate()["num_samples"] == 3


def test_results_json_written_atomically(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path)), hierarchy=toy)
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    evaluator.evaluate()

    assert sorted(os.listdir(tmp_path)) == ["results.json"]  # no temporary file left behind
    data = json.loads((tmp_path / "results.json").read_text())
    for key in ("trainer", "dataset", "subsample", "seed", "num_shots", "backbone", "split", "levels", "num_samples",
                "per_level", "full_path_accuracy", "path_consistency", "mistake_severity"):
        assert key in data, key
    assert data["trainer"] == "HGCLIP" and data["dataset"] == "HierShapes" and data["subsample"] == "base"
    assert data["seed"] == 3 and data["num_shots"] == 4 and data["backbone"] == "tiny" and data["split"] == "test"
    assert data["levels"] == ["coarse", "fine"]
    assert data["num_samples"] == 3
    assert data["per_level"]["fine"] == {"top1": pytest.approx(33.3333), "top5": None,
                                         "macro_f1": pytest.approx(33.3333), "num_classes": 3}
    assert data["per_level"]["coarse"]["num_classes"] == 2
    assert data["full_path_accuracy"] == pytest.approx(33.3333)
    assert data["path_consistency"] == pytest.approx(66.6667)
    assert data["mistake_severity"] == pytest.approx(2.0)


def test_other_split_gets_its_own_file_and_missing_keys_default(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path), subsample=False), hierarchy=toy)
    evaluator.split = "val"
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    evaluator.evaluate()
    assert sorted(os.listdir(tmp_path)) == ["results_val.json"]
    data = json.loads((tmp_path / "results_val.json").read_text())
    assert data["split"] == "val" and data["subsample"] == "all"


def test_no_file_without_output_dir(toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evaluator = Hierarchical(make_cfg(""), hierarchy=toy)
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    evaluator.evaluate()
    assert os.listdir(tmp_path) == []


def test_wrong_logits_width_is_a_clear_error(toy):
    evaluator = Hierarchical(make_cfg(), hierarchy=toy)
    with pytest.raises(ValueError, match=r"num_nodes=5 \(coarse=2, fine=3\), got width 3") as info:
        evaluator.process(torch.zeros(2, 3), torch.tensor([0, 1]))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="leaf labels"):
        evaluator.process(torch.zeros(2, 5), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="expected 2 leaf labels"):
        evaluator.process(torch.zeros(2, 5), torch.tensor([0, 1, 2]))


def test_flat_mode_without_hierarchy(tmp_path, capsys):
    evaluator = Hierarchical(make_cfg(str(tmp_path)), lab2cname={i: str(i) for i in range(6)})
    logits = torch.eye(6)[[0, 1, 2, 0]]  # predictions 0, 1, 2, 0
    evaluator.process(logits, torch.tensor([0, 1, 2, 3]))
    results = evaluator.evaluate()
    assert list(results)[:4] == ["accuracy", "class_top1", "class_top5", "class_macro_f1"]
    assert results["accuracy"] == pytest.approx(75.0)
    assert results["full_path_accuracy"] == pytest.approx(75.0)
    assert results["path_consistency"] == 100.0
    assert math.isnan(results["mistake_severity"])  # no tree: undefined
    out = capsys.readouterr().out
    assert "* accuracy: 75.0%" in out and "* class_top1: 75.0%" in out
    assert "* mistake_severity" not in out  # undefined values get no parseable line
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["levels"] == ["class"] and data["mistake_severity"] is None
    assert data["per_level"]["class"]["num_classes"] == 6


def test_hierarchy_attached_later(toy):
    evaluator = Hierarchical(make_cfg())
    evaluator.hierarchy = toy
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    assert evaluator.evaluate()["coarse_top1"] == pytest.approx(200 / 3)
    # changing the hierarchy mid-way without reset() is refused
    other = Hierarchy(("coarse", "fine"), [("a", "x"), ("b", "y"), ("b", "z"), ("b", "w")])
    evaluator.hierarchy = other
    with pytest.raises(ValueError, match="call reset"):
        evaluator.process(torch.zeros(1, other.num_nodes), torch.tensor([0]))
    evaluator.reset()
    evaluator.process(torch.zeros(1, other.num_nodes), torch.tensor([0]))
    assert evaluator.evaluate()["num_samples"] == 1


def test_decoding_option(toy):
    evaluator = Hierarchical(make_cfg(), hierarchy=toy, decoding="top_down")
    evaluator.process(TOY_LOGITS, TOY_LABELS)
    assert evaluator.evaluate()["path_consistency"] == 100.0
    with pytest.raises(ValueError, match="unknown decoding"):
        Hierarchical(make_cfg(), hierarchy=toy, decoding="sideways")


def test_empty_evaluation_does_not_crash(toy):
    results = Hierarchical(make_cfg(), hierarchy=toy).evaluate()
    assert results["num_samples"] == 0 and results["accuracy"] == 0.0
