"""dassl_compat: the single import point and its HGCLIP_ENGINE switch."""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys

import pytest
from run_helpers import REPO

EXPECTED = """USING_REAL_DASSL ENGINE_DESCRIPTION announce_engine CfgNode get_cfg_default TRAINER_REGISTRY build_trainer
DATASET_REGISTRY build_dataset DatasetBase Datum DatasetWrapper build_transform EVALUATOR_REGISTRY EvaluatorBase
build_evaluator build_optimizer build_lr_scheduler set_random_seed setup_logger collect_env_info
AverageMeter MetricMeter""".split()


def _run(engine: str, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (these paths fail before torch is imported, so it is quick)."""
    env = {**os.environ, "HGCLIP_ENGINE": engine, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def _fresh_import(monkeypatch, engine: str):
    """Import hgclip.runtime.dassl_api anew under ``HGCLIP_ENGINE=engine``; the old module comes back afterwards."""
    monkeypatch.setenv("HGCLIP_ENGINE", engine)
    monkeypatch.delitem(sys.modules, "hgclip.runtime.dassl_api", raising=False)
    return importlib.import_module("hgclip.runtime.dassl_api")


def test_builtin_engine_exports_every_listed_name(monkeypatch):
    import hgclip.runtime.builtin.engine

    compat = _fresh_import(monkeypatch, "builtin")
    assert compat.USING_REAL_DASSL is False
    assert sorted(compat.__all__) == sorted(EXPECTED)
    missing = [name for name in EXPECTED if not hasattr(compat, name)]
    assert not missing
    assert compat.TRAINER_REGISTRY is hgclip.runtime.builtin.engine.TRAINER_REGISTRY


def test_auto_engine_falls_back_to_builtin_without_dassl(monkeypatch):
    if importlib.util.find_spec("dassl") is not None:
        pytest.skip("a real dassl is installed here")
    assert _fresh_import(monkeypatch, "auto").USING_REAL_DASSL is False


def test_dassl_engine_without_dassl_fails_clearly():
    if importlib.util.find_spec("dassl") is not None:
        pytest.skip("a real dassl is installed here")
    result = _run("dassl", "import hgclip.runtime.dassl_api")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: HGCLIP_ENGINE=dassl") and "not installed" in last
    bad = _run("torch", "import hgclip.runtime.dassl_api")
    assert "HGCLIP_ENGINE='torch' is not one of" in bad.stderr.strip().splitlines()[-1]
