"""Shared fixtures: one small HierShapes copy per test session, generated on first use.

``--trainer-module FILE`` (repeatable) imports FILE before the tests are collected, so the
trainers it registers are in ``hgclip.registry.list_trainers()`` and get every contract check
of ``tests/contract/test_trainers.py`` (as timm's tests do for every registered model).
"""
from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--trainer-module", action="append", default=[], metavar="FILE",
                     help="a Python file (or module) that registers extra trainers before collection; repeatable, "
                          "imported in order (a trainer's model file first)")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one of several test processes: one compute thread each
        import torch

        torch.set_num_threads(1)
    from hgclip.cli import train  # noqa: F401  (registers this project's trainers under their table names, as train.py does)
    from hgclip.registry import import_trainer_module

    for path in config.getoption("--trainer-module"):
        try:
            import_trainer_module(path)
        except (OSError, ImportError) as error:
            raise pytest.UsageError(str(error)) from None


@pytest.fixture(scope="session")
def hiershapes_root(tmp_path_factory) -> str:
    """A DATASET.ROOT holding the generated HierShapes (seed 0)."""
    from hgclip.embedded.hiershapes import ensure_hiershapes

    root = str(tmp_path_factory.mktemp("data"))
    ensure_hiershapes(root, seed=0)
    return root


@pytest.fixture(autouse=True)
def _quiet_threads():
    """Use half the cores, as train.py does (see train.configure_cpu_threads)."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    yield


@pytest.fixture(scope="session")
def odd_dataset_root(hiershapes_root, tmp_path_factory) -> str:
    """A DATASET.ROOT with a small HierImageFolder copy of HierShapes (4/2/3 images per class, 95 test images)."""
    from run_helpers import make_image_folder

    root = str(tmp_path_factory.mktemp("odd_data"))
    make_image_folder(hiershapes_root, root)
    return root


@pytest.fixture(scope="session")
def baseline_run(hiershapes_root, tmp_path_factory) -> dict:
    """One uninterrupted single-process HGCLIP run on its own copy of the odd dataset, so that its prototype
    and few-shot caches start empty whatever ran before: what the DDP, resume and cache tests must reproduce.
    Returns its output dir, stdout and dataset root."""
    from run_helpers import check_ok, make_image_folder, run_train, train_args

    root = str(tmp_path_factory.mktemp("baseline_data"))
    make_image_folder(hiershapes_root, root)
    out = str(tmp_path_factory.mktemp("baseline") / "run")
    stdout = check_ok(run_train(train_args(root, out)))
    return {"dir": out, "stdout": stdout, "root": root}
