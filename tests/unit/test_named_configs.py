"""Named configs (hgclip.engine.named_configs): each trainer declares its configs once, every tool resolves them here."""
from __future__ import annotations

import os
import os.path as osp
import subprocess
import sys

import pytest

from hgclip import project
from hgclip.cli import train
from hgclip.common.config_io import merge_config_file
from hgclip.common.errors import InputError
from hgclip.common.paths import config_dir
from hgclip.engine import named_configs
from hgclip.engine.named_configs import ROLES, list_trainer_configs, trainer_config
from hgclip.engine.trainer import HierarchicalCLIPTrainer
from hgclip.registry import list_trainers, trainer_class

TRAINERS = list_trainers()


@pytest.mark.parametrize("trainer", TRAINERS)
def test_every_declared_config_exists_and_loads_into_the_project_config(trainer):
    declared = trainer_class(trainer).CONFIGS
    assert set(declared) == set(ROLES), f"{trainer} declares {sorted(declared)}; expected every role {ROLES}"
    for role in declared:
        path = trainer_config(trainer, role)
        assert osp.isfile(path) and path.startswith(config_dir() + os.sep), path
        cfg = project.get_cfg()
        merge_config_file(cfg, path)  # every key is one the project's config has
        assert cfg.MODEL.BACKBONE.NAME


def test_roles_names_and_paths_resolve_to_the_package_file():
    folder = osp.join(config_dir(), "trainers", "CoOp")
    assert trainer_config("CoOp", "tiny") == osp.join(folder, "tiny_hiershapes.yaml")
    assert trainer_config("CoOp", "base2new") == osp.join(folder, "vit_b16_ep50.yaml")
    assert trainer_config("CoOp", "paper") == osp.join(folder, "vit_b16_ep50_paper.yaml")
    assert trainer_config("CoOp", "vit_b16_ep50_paper") == osp.join(folder, "vit_b16_ep50_paper.yaml")
    assert trainer_config("CoOp", "vit_b16_ep50_paper.yaml") == osp.join(folder, "vit_b16_ep50_paper.yaml")
    assert trainer_config("HGCLIP", "base2new").endswith(osp.join("HGCLIP", "vit_b16_c4_ep5_batch4_4+4ctx.yaml"))
    assert trainer_config("ZeroshotCLIP", "tiny").endswith(osp.join("ZeroshotCLIP", "tiny.yaml"))
    assert trainer_config("ZeroshotCLIP", "paper").endswith(osp.join("ZeroshotCLIP", "vit_b16.yaml"))
    other = osp.join(config_dir(), "trainers", "MaPLe", "tiny_hiershapes.yaml")
    assert trainer_config("CoOp", other) == other  # an existing file is taken as it is
    listed = list_trainer_configs("CoOp")
    assert list(listed)[:3] == ["tiny", "base2new", "paper"]
    assert {"tiny_hiershapes", "vit_b16_ep50", "vit_b16_ep50_paper"} <= set(listed)


def test_an_existing_file_without_a_folder_resolves_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text("OPTIM:\n  LR: 0.1\n")
    monkeypatch.chdir(tmp_path)
    assert trainer_config("CoOp", "mine.yaml") == str(tmp_path / "mine.yaml")


def test_unknown_names_give_one_line_listing_what_the_trainer_has():
    with pytest.raises(InputError) as info:
        trainer_config("CoOp", "vit_b32")
    message = str(info.value)
    assert "\n" not in message
    assert message == ("trainer CoOp has no config 'vit_b32' (no such name or file); expected a role (tiny, base2new, "
                       "paper), a name (tiny_hiershapes, vit_b16_ep50, vit_b16_ep50_paper) or a YAML path")
    with pytest.raises(InputError, match=r"config file nowhere/x\.yaml does not exist"):
        trainer_config("CoOp", "nowhere/x.yaml")
    with pytest.raises(InputError, match=r"trainer 'Nobody' is not registered; registered: ZeroshotCLIP, CoOp"):
        trainer_config("Nobody", "tiny")


class _Outside(HierarchicalCLIPTrainer):
    """A trainer from a --trainer-module file (not registered here: the registry lookup is replaced)."""


def _lookup(cls: type, monkeypatch) -> None:
    monkeypatch.setattr(named_configs, "trainer_class", lambda name: cls)


def test_a_trainer_outside_the_package_declares_config_dir(tmp_path, monkeypatch):
    (tmp_path / "small.yaml").write_text("OPTIM:\n  LR: 0.1\n")
    (tmp_path / "big.yaml").write_text("OPTIM:\n  LR: 0.01\n")
    outside = type("Outside", (_Outside,), {"CONFIGS": {"tiny": "small"}, "CONFIG_DIR": str(tmp_path)})
    _lookup(outside, monkeypatch)
    assert trainer_config("Outside", "tiny") == str(tmp_path / "small.yaml")
    assert trainer_config("Outside", "big") == str(tmp_path / "big.yaml")  # any YAML of its folder, by name
    assert list(list_trainer_configs("Outside")) == ["tiny", "big", "small"]
    with pytest.raises(InputError, match=r"expected a role \(tiny\), a name \(big, small\)"):
        trainer_config("Outside", "paper")


def test_a_trainer_outside_the_package_gives_absolute_paths(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text("OPTIM:\n  LR: 0.1\n")
    outside = type("Outside", (_Outside,), {"CONFIGS": {"tiny": str(tmp_path / "a.yaml"),
                                                        "paper": str(tmp_path / "missing.yaml")}})
    _lookup(outside, monkeypatch)
    assert trainer_config("Outside", "tiny") == str(tmp_path / "a.yaml")
    assert trainer_config("Outside", "a") == str(tmp_path / "a.yaml")
    with pytest.raises(InputError, match=r"config 'paper' is .*missing\.yaml, which does not exist"):
        trainer_config("Outside", "paper")


def test_a_subclass_shares_its_parents_configs(monkeypatch):
    child = type("MyCoOp", (trainer_class("CoOp"),), {})
    _lookup(child, monkeypatch)
    assert trainer_config("MyCoOp", "tiny") == osp.join(config_dir(), "trainers", "CoOp", "tiny_hiershapes.yaml")


def _cfg(*argv: str):
    return train.setup_cfg(train.build_parser().parse_args(list(argv)))


def test_train_py_config_names_the_trainers_config():
    named = _cfg("--trainer", "HGCLIP", "--config", "tiny", "--seed", "1")
    by_file = _cfg("--trainer", "HGCLIP", "--config-file", osp.join(config_dir(), "trainers", "HGCLIP",
                                                                      "tiny_hiershapes.yaml"), "--seed", "1")
    assert named == by_file and named.MODEL.BACKBONE.NAME == "tiny"
    paper = _cfg("--trainer", "CoOp", "--config", "vit_b16_ep50_paper")
    assert paper.MODEL.BACKBONE.NAME == "ViT-B/16"


def test_train_py_config_and_config_file_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        train.build_parser().parse_args(["--trainer", "CoOp", "--config", "tiny", "--config-file", "x.yaml"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(InputError, match="--config tiny needs --trainer"):
        _cfg("--config", "tiny")
    with pytest.raises(InputError, match="trainer CoOp has no config 'huge'"):
        _cfg("--trainer", "CoOp", "--config", "huge")


OUTSIDE_TRAINER = '''
import os

from hgclip.engine.trainer import HierarchicalCLIPTrainer
from hgclip.runtime.dassl_api import TRAINER_REGISTRY


@TRAINER_REGISTRY.register()
class OutsideNamed(HierarchicalCLIPTrainer):
    CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "my_configs")
    CONFIGS = {"tiny": "small"}

    def build_clip_model(self, clip_model, hierarchy):
        raise NotImplementedError
'''


def test_train_py_config_of_a_trainer_module(tmp_path):
    """``train.py --trainer-module FILE --trainer T --config tiny``: the module's CONFIG_DIR (a fresh process: the
    module registers a trainer for good)."""
    (tmp_path / "outside_named.py").write_text(OUTSIDE_TRAINER)
    (tmp_path / "my_configs").mkdir()
    (tmp_path / "my_configs" / "small.yaml").write_text("OPTIM:\n  LR: 0.123\n")
    code = ("import sys; from hgclip.cli import train; "
            "print('LR', train.setup_cfg(train.build_parser().parse_args(sys.argv[1:])).OPTIM.LR)")
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code, "--trainer-module",
                             str(tmp_path / "outside_named.py"), "--trainer", "OutsideNamed", "--config", "tiny"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LR 0.123" in result.stdout


def test_a_dataset_config_is_a_name_of_the_package_or_a_file(tmp_path, monkeypatch):
    """From any folder (an installed package's configs are not under it): a name, a package-relative path, a file."""
    monkeypatch.chdir(tmp_path)
    packaged = osp.join(config_dir(), "datasets", "hiershapes.yaml")
    assert named_configs.dataset_config("hiershapes") == packaged
    assert named_configs.dataset_config("hiershapes.yaml") == packaged
    assert named_configs.dataset_config("configs/datasets/hiershapes.yaml") == packaged
    own = tmp_path / "configs" / "datasets" / "hiershapes.yaml"  # a file of that path here wins over the package's
    own.parent.mkdir(parents=True)
    own.write_text('DATASET:\n  NAME: "HierShapes"\n')
    assert named_configs.dataset_config("configs/datasets/hiershapes.yaml") == "configs/datasets/hiershapes.yaml"
    with pytest.raises(InputError, match=r"dataset config 'nope': .*expected a YAML file or one of .*hiershapes"):
        named_configs.dataset_config("nope")
    with pytest.raises(InputError, match="dataset config 'elsewhere/x.yaml'"):
        named_configs.dataset_config("elsewhere/x.yaml")


def test_train_py_takes_config_files_of_the_package_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_name = _cfg("--trainer", "HGCLIP", "--config", "tiny", "--dataset-config-file", "hiershapes")
    relative = _cfg("--trainer", "HGCLIP", "--config-file", "configs/trainers/HGCLIP/tiny_hiershapes.yaml",
                    "--dataset-config-file", "configs/datasets/hiershapes.yaml")
    assert by_name == relative and by_name.DATASET.NAME == "HierShapes"
    with pytest.raises(InputError, match="dataset config 'nope'"):
        _cfg("--trainer", "HGCLIP", "--config", "tiny", "--dataset-config-file", "nope")
    with pytest.raises(InputError, match="config file not found"):
        _cfg("--trainer", "HGCLIP", "--config-file", "configs/trainers/HGCLIP/nope.yaml")
