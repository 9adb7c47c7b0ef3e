"""CHiLS zero-shot through train.py: ``ZeroshotCLIP --eval-only TEST.DECODING chils`` (issue 19, item 2).

Two runs of the same frozen (random tiny) CLIP on the same data, plain and CHiLS: results.json
records the decoding and every metric of the spec; the finest level and MTA, which CHiLS leaves
alone, are the plain run's numbers.
"""
from __future__ import annotations

from run_helpers import check_ok, results, run_train, train_args

from hgclip.evaluation import metric_spec as spec


def zero_shot(root: str, out: str, decoding: str) -> dict:
    check_ok(run_train(["--eval-only", *train_args(root, out, "TEST.DECODING", decoding, trainer="ZeroshotCLIP")]))
    return results(out)


def test_chils_zero_shot_reports_every_metric(odd_dataset_root, tmp_path):
    plain = zero_shot(odd_dataset_root, str(tmp_path / "plain"), "independent")
    chils = zero_shot(odd_dataset_root, str(tmp_path / "chils"), "chils")

    assert chils["trainer"] == "ZeroshotCLIP"
    assert (plain["decoding"], chils["decoding"]) == ("independent", "chils")
    assert chils["valid_paths"] is False
    assert chils["levels"] == plain["levels"] and len(chils["levels"]) == 3
    for key in (*spec.RETURNED_KEYS, *spec.TREE_METRIC_KEYS):  # HCA, MTA, hP/hR/hF, distances, ...
        assert isinstance(chils.get(key), (int, float)), key
    for level in chils["levels"]:
        for metric in spec.PER_LEVEL_METRICS:
            assert metric.key in chils["per_level"][level], (level, metric.key)
    finest = chils["levels"][-1]
    assert chils["per_level"][finest] == plain["per_level"][finest]  # the leaves keep their plain softmax
    assert chils["accuracy"] == plain["accuracy"]
    assert chils["mean_treecut_accuracy"] == plain["mean_treecut_accuracy"]  # MTA reads the raw node scores
    assert chils["num_samples"] == plain["num_samples"]
