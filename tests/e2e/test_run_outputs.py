"""TEST.PER_CLASS_RESULT, TEST.COMPUTE_CMAT and TEST.SAVE_PREDICTIONS through train.py (issue 18, item 14).

Two tiny CoOp runs on the same data: the defaults write no new file and no new results.json field;
the three switches add the files, each readable with the standard library, and change no number.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import stat

from run_helpers import check_ok, results, run_train, train_args

from hgclip.evaluation.metric_spec import PER_CLASS_ACCURACY

SWITCHES = ("TEST.PER_CLASS_RESULT", "True", "TEST.COMPUTE_CMAT", "True", "TEST.SAVE_PREDICTIONS", "True")


def tiny_coop(root: str, out: str, *opts: str) -> str:
    return check_ok(run_train(train_args(root, out, "OPTIM.MAX_EPOCH", "1", *opts, trainer="CoOp")))


def test_switches_add_their_files_and_change_no_number(odd_dataset_root, tmp_path):
    plain, full = str(tmp_path / "plain"), str(tmp_path / "full")
    old_umask = os.umask(0o022)  # the runs inherit it
    try:
        tiny_coop(odd_dataset_root, plain)
        stdout = tiny_coop(odd_dataset_root, full, *SWITCHES)
    finally:
        os.umask(old_umask)
    modes = {osp.relpath(osp.join(d, f), full): stat.S_IMODE(os.stat(osp.join(d, f)).st_mode)
             for d, _, files in os.walk(full) for f in files}
    assert {"results.json", "predictions.jsonl", "cmat.json", "log.txt"} <= set(modes)
    assert {name: oct(mode) for name, mode in modes.items() if mode != 0o644} == {}  # as open(path, "w") makes them

    assert not {"cmat.json", "predictions.jsonl"} & set(os.listdir(plain))
    reference = results(plain)
    assert PER_CLASS_ACCURACY not in reference
    with_switches = results(full)
    per_class = with_switches.pop(PER_CLASS_ACCURACY)
    assert with_switches == reference  # the same numbers, field for field

    levels, n = reference["levels"], reference["num_samples"]
    assert list(per_class) == levels
    for level in levels:
        classes = per_class[level]["classes"]
        assert len(classes) == reference["per_level"][level]["num_classes"]
        assert sum(c["num_samples"] for c in classes) == n
        top1 = 100.0 * sum(c["correct"] for c in classes) / n
        assert abs(top1 - reference["per_level"][level]["top1"]) < 1e-3
        assert f"=> per-class result: {level} ({len(classes)} classes" in stdout

    with open(osp.join(full, "cmat.json"), encoding="utf-8") as handle:
        cmat = json.load(handle)
    assert cmat["levels"] == levels and cmat["decoding"] == reference["decoding"]
    for level in levels:
        matrix = cmat["per_level"][level]["matrix"]
        assert len(matrix) == len(cmat["per_level"][level]["classes"]) == reference["per_level"][level]["num_classes"]
        assert sum(map(sum, matrix)) == n
        diagonal = sum(matrix[i][i] for i in range(len(matrix)))
        assert abs(100.0 * diagonal / n - reference["per_level"][level]["top1"]) < 1e-3

    with open(osp.join(full, "predictions.jsonl"), encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    assert [row["index"] for row in rows] == list(range(n))
    assert all(row["impath"] is None or osp.isfile(row["impath"]) for row in rows)  # paths when the trainer gives them
    finest = levels[-1]
    assert abs(100.0 * sum(row["correct"][finest] for row in rows) / n - reference["accuracy"]) < 1e-3
    full_path = sum(all(row["correct"].values()) for row in rows)
    assert abs(100.0 * full_path / n - reference["full_path_accuracy"]) < 1e-3
    assert all(1 <= len(row["top5"][level]) <= 5 for row in rows for level in levels)
    assert all(row["top5"][level][0]["class"] == row["predicted"][level] for row in rows for level in levels)
