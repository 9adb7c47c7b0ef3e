"""dassl_compat: the single import point and its HGCLIP_ENGINE switch."""
from __future__ import annotations

import importlib
import importlib.machinery
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


class _DasslLikeWarmup:
    """What Dassl 0.6.3's ``_BaseWarmupScheduler.__init__`` does: ``verbose`` passed positionally to torch."""

    @staticmethod
    def make_module():
        import types

        from torch.optim.lr_scheduler import LRScheduler

        class _BaseWarmupScheduler(LRScheduler):
            def __init__(self, optimizer, successor, warmup_epoch, last_epoch=-1, verbose=False):
                self.successor = successor
                self.warmup_epoch = warmup_epoch
                super().__init__(optimizer, last_epoch, verbose)

        class ConstantWarmupScheduler(_BaseWarmupScheduler):
            def __init__(self, optimizer, successor, warmup_epoch, cons_lr, last_epoch=-1, verbose=False):
                self.cons_lr = cons_lr
                super().__init__(optimizer, successor, warmup_epoch, last_epoch, verbose)

            def get_lr(self):
                if self.last_epoch >= self.warmup_epoch:
                    return self.successor.get_last_lr()
                return [self.cons_lr for _ in self.base_lrs]

        module = types.ModuleType("dassl.optim.lr_scheduler")
        module._BaseWarmupScheduler = _BaseWarmupScheduler
        module.ConstantWarmupScheduler = ConstantWarmupScheduler
        return module


def test_plugin_patch_lets_dassls_own_warmup_scheduler_build_on_current_torch(monkeypatch):
    """hgclip.plugin.patch_dassl_warmup: the checkout's trainers call Dassl's build_lr_scheduler directly."""
    import types

    import torch

    from hgclip import plugin
    from hgclip.runtime import dassl_api

    if dassl_api._torch_scheduler_takes_verbose():
        assert plugin.patch_dassl_warmup() is False
        return
    lr_scheduler = _DasslLikeWarmup.make_module()
    for name, module in (("dassl", types.ModuleType("dassl")), ("dassl.optim", types.ModuleType("dassl.optim")),
                         ("dassl.optim.lr_scheduler", lr_scheduler)):
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, module)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 4)
    with pytest.raises(TypeError):
        lr_scheduler.ConstantWarmupScheduler(optimizer, cosine, 1, 1e-5)
    original = lr_scheduler._BaseWarmupScheduler.__init__
    monkeypatch.setattr(lr_scheduler._BaseWarmupScheduler, "__init__", original)  # restored afterwards
    assert plugin.patch_dassl_warmup() is True
    assert plugin.patch_dassl_warmup() is True  # idempotent
    scheduler = lr_scheduler.ConstantWarmupScheduler(optimizer, cosine, 1, 1e-5)
    assert scheduler.warmup_epoch == 1 and scheduler.get_last_lr() == [1e-5]
