"""The registry is the one list of trainers: its order, its flags, both naming routes, and new trainers' checks."""
from __future__ import annotations

import re
import textwrap

import pytest
from run_helpers import environment, run_python
from shared_builds import SHARED_DIR_VARIABLE

from hgclip.common.config_schema import build
from hgclip.registry import UNORDERED, has_parameters, list_trainers, plugin_name, trainer_class, trainer_sections
from hgclip.runtime.dassl_api import TRAINER_REGISTRY


def test_trainers_are_listed_in_their_own_table_order():
    """The registry is the only list: its order is each trainer's TABLE_ORDER (the paper's Table 1, one column each),
    CLIP zero-shot first and the method last; only ZeroshotCLIP has nothing to train."""
    classes = [trainer_class(name) for name in list_trainers()]
    orders = [getattr(cls, "TABLE_ORDER", UNORDERED) for cls in classes]
    assert orders == sorted(orders)
    project = [cls for cls in classes if cls.__module__.startswith("hgclip.trainers.")]
    assert len({cls.TABLE_ORDER for cls in project}) == len(project)
    assert project[0].__name__ == "ZeroshotCLIP" and project[-1].__name__ == "HGCLIP"
    assert list_trainers(trainable=False) == ["ZeroshotCLIP"]
    assert not has_parameters("ZeroshotCLIP") and has_parameters("HGCLIP")


def test_every_trainer_declares_its_own_config_section():
    """``extend_cfg`` builds TRAINER.<CFG_KEY> from the registered trainers; config.py holds only shared keys."""
    from hgclip.project import config_keys, get_cfg

    cfg, sections = get_cfg(), {section.key: section for section in trainer_sections()}
    for name in list_trainers():
        cls = trainer_class(name)
        if cls.__module__.startswith("hgclip.trainers."):
            assert sections[cls.CFG_KEY].trainer is cls and cfg.TRAINER[cls.CFG_KEY] == build(cls.config_section())
    declared = {key.key: key.declared_by for key in config_keys()}
    assert declared["TRAINER.HGCLIP.LAMBDA_ATTN"] == "HGCLIP" and declared["TRAINER.COOP.N_CTX"] == "CoOp"
    assert declared["DATASET.CHECK_IMAGES"] == "" and "DATASET.VERIFY_IMAGES" not in declared
    assert all(key.startswith("TRAINER.") == bool(owner) for key, owner in declared.items())
    assert all(key.shipped for key in config_keys())  # no trainer from outside the package in this session


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


# A new trainer in two files, as a user writes it outside the package: its model, and its trainer, which
# declares its own config section; nothing else is edited anywhere.
TWO_FILE_MODEL = '''
    """The model of the two-file trainer: CoOp's prompt learner with its own defaults."""
    from hgclip.models.coop import CoOpModel


    class TwoFileModel(CoOpModel):
        pass
'''

TWO_FILE_TRAINER = '''
    """A new trainer registered the way Dassl plugins do, with its own TRAINER.TWOFILE section."""
    from yacs.config import CfgNode as CN

    from hgclip.runtime.dassl_api import TRAINER_REGISTRY
    from hgclip.engine.trainer import HierarchicalCLIPTrainer
    from twofile_model import TwoFileModel


    @TRAINER_REGISTRY.register()
    class TwoFile(HierarchicalCLIPTrainer):
        CFG_KEY = "TWOFILE"

        @classmethod
        def config_section(cls):
            node = CN()
            node.N_CTX = 4
            node.CTX_INIT = "a photo of a"
            node.PREC = "fp32"
            node.LEVEL_WEIGHTS = []
            return node

        def build_clip_model(self, clip_model, hierarchy):
            c = self.trainer_cfg
            return TwoFileModel(clip_model, hierarchy.node_names, c.N_CTX, c.CTX_INIT, False)
'''


def _two_file_trainer(folder) -> list[str]:
    """The ``--trainer-module`` arguments of the two files (the model first: the trainer imports it)."""
    (folder / "twofile_model.py").write_text(textwrap.dedent(TWO_FILE_MODEL))
    (folder / "twofile_trainer.py").write_text(textwrap.dedent(TWO_FILE_TRAINER))
    return ["--trainer-module", str(folder / "twofile_model.py"), "--trainer-module", str(folder / "twofile_trainer.py")]


def test_a_trainer_of_two_files_receives_every_contract_check(tmp_path, shared_dir, hiershapes_root):
    result = run_python(  # on this run's generated HierShapes (shared_builds)
        "-m", "pytest", "tests/contract/test_trainers.py", *_two_file_trainer(tmp_path), "-k", "TwoFile",
        "-q", "-rA", "-p", "no:cacheprovider", "-n", "0", timeout=600,
        env=environment(**{SHARED_DIR_VARIABLE: shared_dir}))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    passed = set(re.findall(r"PASSED tests/contract/test_trainers.py::(\w+)\[TwoFile\]", result.stdout))
    contract = {"test_builds_and_logits_cover_every_level", "test_train_steps_lower_the_loss",
                "test_checkpoint_round_trip", "test_model_trained_on_base_loads_for_new",
                "test_one_epoch_through_the_real_loop"}
    assert contract <= passed, (sorted(passed), result.stdout[-2000:])


def test_train_py_gives_a_two_file_trainer_its_config_keys(tmp_path):
    """``train.py --trainer-module``: the trainer's section exists, takes options, and is listed by config_keys."""
    code = textwrap.dedent('''
        import sys
        from hgclip.cli import train
        from hgclip.project import config_keys
        args = train.build_parser().parse_args(sys.argv[1:] + ["--trainer", "TwoFile", "TRAINER.TWOFILE.N_CTX", "2"])
        cfg = train.setup_cfg(args)
        print("N_CTX", cfg.TRAINER.TWOFILE.N_CTX, cfg.TRAINER.TWOFILE.CTX_INIT)
        print("OWNER", [(k.declared_by, k.shipped) for k in config_keys() if k.key == "TRAINER.TWOFILE.N_CTX"])
    ''')
    result = run_python("-c", code, *_two_file_trainer(tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "N_CTX 2 a photo of a" in result.stdout and "OWNER [('TwoFile', False)]" in result.stdout, result.stdout
