"""The built-in engine's evaluator registry: ``build_evaluator`` builds ``TEST.EVALUATOR`` from ``EVALUATOR_REGISTRY``."""
from __future__ import annotations

import pytest

from hgclip.runtime.builtin.config import get_cfg_default
from hgclip.runtime.builtin.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator


def test_build_evaluator_passes_kwargs_and_rejects_unknown_names():
    @EVALUATOR_REGISTRY.register()
    class EngineTestKwargsEvaluator(EvaluatorBase):
        def __init__(self, cfg, lab2cname=None, hierarchy=None):
            super().__init__(cfg)
            self.hierarchy = hierarchy

    cfg = get_cfg_default()
    cfg.TEST.EVALUATOR = "EngineTestKwargsEvaluator"
    assert build_evaluator(cfg, lab2cname={}, hierarchy="H").hierarchy == "H"
    cfg.TEST.EVALUATOR = "EngineTestKwargsEvaluatr"
    with pytest.raises(ValueError, match=r"do you mean \[EngineTestKwargsEvaluator\]"):
        build_evaluator(cfg)
