"""minidassl evaluators: Dassl's Classification metrics and printed block."""
from __future__ import annotations

import pytest
import torch

from hgclip.runtime.builtin.config import get_cfg_default
from hgclip.runtime.builtin.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator


def _logits(preds, num_classes=3):
    return torch.nn.functional.one_hot(torch.tensor(preds), num_classes).float()


def test_classification_accuracy_macro_f1_and_printout(tmp_path, capsys):
    cfg = get_cfg_default()
    cfg.OUTPUT_DIR = str(tmp_path)
    cfg.TEST.PER_CLASS_RESULT = True
    cfg.TEST.COMPUTE_CMAT = True
    evaluator = build_evaluator(cfg, lab2cname={0: "cat", 1: "dog", 2: "fox"})
    gt = torch.tensor([0, 0, 1, 1])
    evaluator.process(_logits([0, 1, 1, 2])[:2], gt[:2])
    evaluator.process(_logits([0, 1, 1, 2])[2:], gt[2:])
    results = evaluator.evaluate()
    assert list(results) == ["accuracy", "error_rate", "macro_f1", "perclass_accuracy"]
    assert results["accuracy"] == 50.0 and results["error_rate"] == 50.0
    # labels present in gt: 0 -> F1 2/3, 1 -> F1 2*1/(2+2) = 1/2 (label 2 is ignored)
    assert results["macro_f1"] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    out = capsys.readouterr().out
    for line in ("=> result", "* total: 4", "* correct: 2", "* accuracy: 50.0%", "* error: 50.0%",
                 "* macro_f1: 58.3%", "* class: 0 (cat)", "* average: 50.0%"):
        assert line in out
    cmat = torch.load(tmp_path / "cmat.pt", weights_only=True)
    assert cmat.shape == (3, 3) and cmat[0].tolist() == [0.5, 0.5, 0.0]

    evaluator.reset()
    evaluator.process(_logits([2]), torch.tensor([2]))
    assert evaluator.evaluate()["accuracy"] == 100.0


def test_build_evaluator_passes_kwargs_and_rejects_unknown_names():
    @EVALUATOR_REGISTRY.register()
    class EngineTestKwargsEvaluator(EvaluatorBase):
        def __init__(self, cfg, lab2cname=None, hierarchy=None):
            super().__init__(cfg)
            self.hierarchy = hierarchy

    cfg = get_cfg_default()
    cfg.TEST.EVALUATOR = "EngineTestKwargsEvaluator"
    assert build_evaluator(cfg, lab2cname={}, hierarchy="H").hierarchy == "H"
    cfg.TEST.EVALUATOR = "Clasification"
    with pytest.raises(ValueError, match=r"do you mean \[Classification\]"):
        build_evaluator(cfg)
