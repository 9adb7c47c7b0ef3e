"""The registry is the one list of trainers: its order, its flags, both naming routes, and new trainers' checks."""
from __future__ import annotations

import os.path as osp
import re
import subprocess
import sys
import textwrap

import pytest

from hgclip.engine.dassl_api import TRAINER_REGISTRY
from hgclip.registry import has_parameters, list_trainers, plugin_name, trainer_class
from run_helpers import REPO



def test_project_trainers_in_the_papers_table_order():
    """Table 1 of the HGCLIP paper: CLIP, CoOp, CoCoOp, VPT, MaPLe, KgCoOp, PromptSRC (+ IVLP), HGCLIP."""
    project = [name for name in list_trainers() if trainer_class(name).__module__.startswith("hgclip.trainers.")]
    assert project == ["ZeroshotCLIP", "CoOp", "CoCoOp", "VPT", "MaPLe", "KgCoOp", "PromptSRC", "IVLP", "HGCLIP"]
    assert list_trainers(trainable=False) == ["ZeroshotCLIP"]
    assert not has_parameters("ZeroshotCLIP") and has_parameters("HGCLIP")


def test_every_trainer_class_in_the_trainers_package_is_registered():
    import hgclip.trainers
    from hgclip.engine.trainer import HierarchicalCLIPTrainer

    classes = {obj for module in vars(hgclip.trainers).values() if isinstance(module, type(hgclip))
               for obj in vars(module).values()
               if isinstance(obj, type) and issubclass(obj, HierarchicalCLIPTrainer) and obj is not HierarchicalCLIPTrainer
               and obj.__module__ == module.__name__}
    assert classes and all(cls in {trainer_class(n) for n in list_trainers()} for cls in classes)


def test_baselines_also_have_names_that_cannot_collide_with_a_checkout():
    """A CoOp/MaPLe/PromptSRC checkout registers CoOp, CoCoOp, MaPLe, IVLP, VPT, ...: ours are HierCoOp, ..."""
    registered = TRAINER_REGISTRY.registered_names()
    for name in list_trainers():
        cls = trainer_class(name)
        if cls.__module__.startswith("hgclip.trainers."):
            assert plugin_name(cls) in registered and TRAINER_REGISTRY.get(plugin_name(cls)) is cls
    assert plugin_name(trainer_class("CoOp")) == "HierCoOp" and plugin_name(trainer_class("HGCLIP")) == "HGCLIP"


def test_unknown_trainer_error_lists_the_registered_ones():
    with pytest.raises(KeyError, match="'NoSuch' is not registered; registered: ZeroshotCLIP, CoOp"):
        trainer_class("NoSuch")


THROWAWAY = '''
    """A new trainer, registered the way Dassl plugins do; it reuses CoOp's model and config keys."""
    from hgclip.engine.dassl_api import TRAINER_REGISTRY
    from hgclip.models.coop import CoOpModel
    from hgclip.engine.trainer import HierarchicalCLIPTrainer


    @TRAINER_REGISTRY.register()
    class Throwaway(HierarchicalCLIPTrainer):
        CFG_KEY = "COOP"

        def build_clip_model(self, clip_model, hierarchy):
            return CoOpModel(clip_model, hierarchy.node_names, 4, "a photo of a", False)
'''


def test_a_newly_registered_trainer_receives_every_contract_check(tmp_path):
    module = tmp_path / "throwaway_trainer.py"
    module.write_text(textwrap.dedent(THROWAWAY))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/contract/test_trainers.py", "--trainer-module", str(module), "-k", "Throwaway",
         "-q", "-rA", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    passed = set(re.findall(r"PASSED tests/contract/test_trainers.py::(\w+)\[Throwaway\]", result.stdout))
    contract = {"test_builds_and_logits_cover_every_level", "test_train_steps_lower_the_loss",
                "test_checkpoint_round_trip", "test_model_trained_on_base_loads_for_new",
                "test_one_epoch_through_the_real_loop"}
    assert contract <= passed, (sorted(passed), result.stdout[-2000:])
