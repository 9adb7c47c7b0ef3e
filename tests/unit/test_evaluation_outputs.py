"""The evaluator's on-request outputs: TEST.PER_CLASS_RESULT, TEST.COMPUTE_CMAT, TEST.SAVE_PREDICTIONS (issue 18, item 14).

Each file is read back with the standard library only, as a user would.
"""
import json
import os

import pytest
import torch
from evaluator_helpers import LABELS, LOGITS, make_cfg

import hgclip.evaluation  # noqa: F401  (registers the evaluator)
from hgclip.evaluation import Hierarchical
from hgclip.evaluation.metric_spec import PER_CLASS_ACCURACY
from hgclip.evaluation.run_report import output_files


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_all_off_by_default_writes_results_json_only(toy, tmp_path, capsys):
    evaluator = Hierarchical(make_cfg(str(tmp_path), PER_CLASS_RESULT=False, COMPUTE_CMAT=False,
                                      SAVE_PREDICTIONS=False), hierarchy=toy)
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    assert sorted(os.listdir(tmp_path)) == ["results.json"]
    assert PER_CLASS_ACCURACY not in json.loads((tmp_path / "results.json").read_text())
    assert "per-class" not in capsys.readouterr().out


def test_per_class_result_in_the_log_and_results_json(toy, tmp_path, capsys):
    evaluator = Hierarchical(make_cfg(str(tmp_path), PER_CLASS_RESULT=True), hierarchy=toy)
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    table = json.loads((tmp_path / "results.json").read_text())[PER_CLASS_ACCURACY]
    assert list(table) == ["coarse", "fine"]
    assert table["coarse"]["mean"] == 50.0  # animal 2/2, vehicle 0/1
    assert table["coarse"]["classes"] == [
        {"index": 0, "name": "animal", "num_samples": 2, "correct": 2, "accuracy": 100.0},
        {"index": 1, "name": "vehicle", "num_samples": 1, "correct": 0, "accuracy": 0.0},
    ]
    assert [c["accuracy"] for c in table["fine"]["classes"]] == [100.0, 0.0, 0.0]
    assert table["fine"]["mean"] == pytest.approx(33.3333)
    out = capsys.readouterr().out
    assert "=> per-class result: coarse (2 classes, mean per-class accuracy 50.0%)" in out
    assert "=> per-class result: fine (3 classes, mean per-class accuracy 33.3%)" in out
    per_class_lines = out[out.index("=> per-class result"):].splitlines()
    assert not any(line.startswith("* ") for line in per_class_lines)  # log parsers read only the metrics


def test_per_class_result_leaves_classes_without_samples_out_of_the_mean(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path), PER_CLASS_RESULT=True), hierarchy=toy)
    evaluator.process(LOGITS[:1], LABELS[:1])  # only a cat
    evaluator.evaluate()
    fine = json.loads((tmp_path / "results.json").read_text())[PER_CLASS_ACCURACY]["fine"]
    assert [c["accuracy"] for c in fine["classes"]] == [100.0, None, None] and fine["mean"] == 100.0


def test_compute_cmat_writes_a_named_count_matrix_per_level(toy, tmp_path, capsys):
    evaluator = Hierarchical(make_cfg(str(tmp_path), COMPUTE_CMAT=True), hierarchy=toy, decoding="independent")
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    with open(tmp_path / "cmat.json", encoding="utf-8") as handle:
        cmat = json.load(handle)
    assert cmat["levels"] == ["coarse", "fine"] and cmat["split"] == "test" and cmat["decoding"] == "independent"
    assert cmat["rows"] == "true class" and cmat["columns"] == "predicted class"
    assert cmat["per_level"]["coarse"] == {"classes": ["animal", "vehicle"], "matrix": [[2, 0], [1, 0]]}
    assert cmat["per_level"]["fine"] == {"classes": ["cat", "dog", "car"], "matrix": [[1, 0, 0], [0, 0, 1], [0, 1, 0]]}
    assert f"Wrote {tmp_path / 'cmat.json'}" in capsys.readouterr().out


def test_cmat_of_another_split_and_of_a_flat_classifier(tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path), COMPUTE_CMAT=True), lab2cname={0: "a", 1: "b"})
    evaluator.split = "val"
    evaluator.process(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1]))
    evaluator.evaluate()
    cmat = json.loads((tmp_path / "cmat_val.json").read_text())
    assert cmat["per_level"] == {"class": {"classes": ["a", "b"], "matrix": [[1, 0], [1, 0]]}}
    assert "cmat_val.json" in output_files("val") and "predictions_val.jsonl" in output_files("val")


def test_save_predictions_with_image_paths(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path), SAVE_PREDICTIONS=True), hierarchy=toy)
    evaluator.process(LOGITS[:2], LABELS[:2], impaths=["a/cat.jpg", "b/dog.jpg"])
    evaluator.process(LOGITS[2:], LABELS[2:], impaths=("c/car.jpg",))
    evaluator.evaluate()
    rows = read_jsonl(tmp_path / "predictions.jsonl")
    assert [row["index"] for row in rows] == [0, 1, 2]
    assert [row["impath"] for row in rows] == ["a/cat.jpg", "b/dog.jpg", "c/car.jpg"]
    assert rows[1]["true"] == {"coarse": "animal", "fine": "dog"}
    assert rows[1]["predicted"] == {"coarse": "animal", "fine": "car"}
    assert rows[1]["correct"] == {"coarse": True, "fine": False}
    assert rows[0]["top5"]["coarse"] == [{"class": "animal", "score": 3.0}, {"class": "vehicle", "score": 0.0}]
    assert rows[0]["top5"]["fine"][0] == {"class": "cat", "score": 3.0} and len(rows[0]["top5"]["fine"]) == 3


def test_save_predictions_without_image_paths_records_the_index(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path), SAVE_PREDICTIONS=True), hierarchy=toy)
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    rows = read_jsonl(tmp_path / "predictions.jsonl")
    assert [(row["index"], row["impath"]) for row in rows] == [(0, None), (1, None), (2, None)]
    with pytest.raises(ValueError, match="expected 3 image paths"):
        evaluator.process(LOGITS, LABELS, impaths=["only-one.jpg"])


def test_save_predictions_follows_the_decoder(toy, tmp_path):
    """top_down: the predicted path is the decoder's, and classes it rules out (-inf) are not listed."""
    evaluator = Hierarchical(make_cfg(str(tmp_path), SAVE_PREDICTIONS=True), hierarchy=toy, decoding="top_down")
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    rows = read_jsonl(tmp_path / "predictions.jsonl")
    assert rows[1]["predicted"] == {"coarse": "animal", "fine": "cat"}  # car (its best leaf) is outside the branch
    assert all(entry["class"] != "car" for entry in rows[1]["top5"]["fine"])
    assert all(entry["score"] is not None for row in rows for level in row["top5"].values() for entry in level)


def test_predictions_hold_every_sample_once_after_reset(toy, tmp_path):
    evaluator = Hierarchical(make_cfg(str(tmp_path), SAVE_PREDICTIONS=True), hierarchy=toy)
    evaluator.process(LOGITS, LABELS)
    evaluator.evaluate()
    evaluator.reset()
    evaluator.process(LOGITS[:1], LABELS[:1])
    evaluator.evaluate()
    assert len(read_jsonl(tmp_path / "predictions.jsonl")) == 1
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp")]  # atomic writes leave nothing


def test_files_of_an_earlier_evaluation_with_other_switches_are_removed(toy, tmp_path, capsys):
    """A predictions.jsonl or cmat.json beside a results.json always comes from the same evaluation."""
    on = Hierarchical(make_cfg(str(tmp_path), COMPUTE_CMAT=True, SAVE_PREDICTIONS=True, CONFUSIONS_TOP_K=3),
                      hierarchy=toy)
    on.process(LOGITS, LABELS)
    on.evaluate()
    (tmp_path / "notes.txt").write_text("mine")
    assert {"cmat.json", "predictions.jsonl", "confusions.json"} <= set(os.listdir(tmp_path))
    off = Hierarchical(make_cfg(str(tmp_path)), hierarchy=toy)
    off.split = "val"
    off.process(LOGITS, LABELS)
    off.evaluate()  # another split keeps the test split's files
    assert {"cmat.json", "predictions.jsonl", "results_val.json"} <= set(os.listdir(tmp_path))
    off.split = "test"
    off.evaluate()
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "results.json", "results_val.json"]
    assert f"Removed {tmp_path / 'predictions.jsonl'}" in capsys.readouterr().out
