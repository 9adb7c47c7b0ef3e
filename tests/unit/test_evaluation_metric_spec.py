"""The metric specification: one definition per key, read by the evaluator, aggregation and docs alike."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import torch
from run_helpers import REPO
from yacs.config import CfgNode

from hgclip.evaluation import Hierarchical
from hgclip.evaluation import metric_spec as spec
from hgclip.evaluation.aggregate import flat_metrics
from hgclip.evaluation.metric_docs import docs_path
from hgclip.evaluation.metric_docs import main as docs_main
from hgclip.hierarchy import Hierarchy


def test_docs_page_is_rendered_from_the_spec():
    with open(docs_path(), encoding="utf-8") as handle:
        assert handle.read() == spec.render_docs(), "run: python -m hgclip.evaluation.metric_docs --write"
    assert docs_main(["--check"]) == 0
    for metric in spec.METRICS:
        assert f"| `{metric.pattern}` |" in spec.render_docs()


def test_every_metric_is_complete_and_unique():
    keys = [m.key for m in spec.METRICS]
    assert len(keys) == len(set(keys))
    for metric in spec.METRICS:
        assert metric.unit in (spec.PERCENT, spec.HEIGHT, spec.COUNT)
        assert metric.aggregation in (spec.MEAN_STD, spec.MEAN_STD_HM, spec.NOT_AGGREGATED)
        assert set(metric.groups) <= set(spec.KEYWORD_GROUPS), metric.key
        assert (spec.GROUP_ALL in metric.groups) == (metric.aggregation != spec.NOT_AGGREGATED), metric.key
        assert metric.meaning and metric.label, metric.key
        if metric.unit == spec.HEIGHT:
            assert not metric.higher_is_better and metric.decimals == 2, metric.key
    assert all(m.summary_key for m in spec.BASE_NEW_METRICS)


def test_level_keys_and_lookup():
    assert spec.level_key("mid level", spec.TOP1) == "mid_level_top1"
    assert spec.level_key("--", spec.MACRO_F1) == "level_macro_f1"
    assert spec.metric_of("mid_level_top5") is spec.by_key(spec.TOP5)
    assert spec.metric_of(spec.HIERARCHICAL_F1) is spec.by_key(spec.HIERARCHICAL_F1)
    assert spec.metric_of("nothing") is None
    assert spec.suffix(spec.MISTAKE_SEVERITY) == "" and spec.suffix("shape_top1") == "%"
    with pytest.raises(KeyError, match="unknown metric key 'nothing'"):
        spec.by_key("nothing")


def test_keyword_groups():
    flat = [key for key, _, _ in spec.flat_keys(["a", "b"])]
    assert spec.keyword_keys(flat, "accuracy") == spec.keyword_keys(flat, spec.GROUP_TOP1) == [
        "a_top1", "b_top1", spec.FULL_PATH_ACCURACY, spec.HIERARCHICAL_CONSISTENT_ACCURACY]
    assert spec.keyword_keys(flat, spec.GROUP_ALL) == flat
    tree = spec.keyword_keys(flat, spec.GROUP_TREE)
    heights = [k for k in tree if not spec.is_percent(k)]
    assert tree[-len(heights):] == heights == [spec.MISTAKE_SEVERITY, spec.HIERARCHICAL_DISTANCE_AT_1,
                                               spec.HIERARCHICAL_DISTANCE_AT_5]
    assert spec.keyword_keys(flat, "a_top1") is None  # a single key, not a group


def test_evaluator_keys_follow_the_spec(tmp_path):
    """What the evaluator returns, prints and writes uses exactly the spec's keys, in its order."""
    h = Hierarchy(("coarse", "fine"), [(f"c{i // 4}", f"f{i}") for i in range(8)])
    cfg = CfgNode({"OUTPUT_DIR": str(tmp_path), "TEST": CfgNode({"EVALUATOR": "Hierarchical"})})
    evaluator = Hierarchical(cfg, hierarchy=h)
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(20, h.num_nodes, generator=generator)
    evaluator.process(logits, torch.randint(0, 8, (20,), generator=generator))
    returned = evaluator.evaluate()
    assert list(returned)[0] == spec.ACCURACY
    assert [k for k in returned if spec.metric_of(k) is None or not spec.metric_of(k).per_level] == list(
        spec.RETURNED_KEYS)
    assert list(evaluator.last_results)[len(returned):] == list(spec.TREE_METRIC_KEYS)
    data = json.loads((tmp_path / "results.json").read_text())
    flat = flat_metrics(data)  # undefined values (coarse top-5: 2 classes) are left out
    assert list(flat) == [k for k, _, _ in spec.flat_keys(["coarse", "fine"]) if k in flat] == [
        k for k in evaluator.last_results if k != spec.NUM_SAMPLES]
    assert set(spec.keyword_keys(flat, spec.GROUP_ALL)) == set(flat)


def test_each_metric_key_is_spelled_once_outside_the_tests():
    """``git grep '"<key>"'`` finds each metric key in metric_spec.py only (the built-in engine's own flat
    Classification evaluator, Dassl's, is not this project's schema)."""
    if not os.path.isdir(os.path.join(REPO, ".git")) and not os.path.isfile(os.path.join(REPO, ".git")):
        pytest.skip("not a git checkout")
    for metric in spec.METRICS:
        if metric.key in (spec.ACCURACY, spec.MACRO_F1, spec.NUM_SAMPLES):
            continue  # generic words that other evaluators and files use for their own things
        out = subprocess.run(["git", "grep", "-l", f'"{metric.key}"', "--", "*.py", ":!tests"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
        assert out == ["evaluation/metric_spec.py"], (metric.key, out)
    with open(os.path.join(REPO, "evaluation", "metric_spec.py"), encoding="utf-8") as handle:
        source = handle.read()
    for metric in spec.METRICS:
        assert len(re.findall(rf'= "{metric.key}"', source)) == 1, metric.key
