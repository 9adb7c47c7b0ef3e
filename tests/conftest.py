"""Shared fixtures: one small HierShapes copy per test run (shared by the xdist workers), generated on first use.

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
def shared_dir(pytestconfig, tmp_path_factory) -> str:
    """Where the session fixtures below are built once for every xdist worker of this run (shared_builds)."""
    from shared_builds import shared_root

    return shared_root(pytestconfig, tmp_path_factory)


@pytest.fixture(scope="session")
def hiershapes_root(shared_dir) -> str:
    """A DATASET.ROOT holding the generated HierShapes (seed 0), generated once for all workers (shared_builds)."""
    from shared_builds import shared_build

    from hgclip.embedded.hiershapes import ensure_hiershapes

    return shared_build(shared_dir, "data", lambda root: ensure_hiershapes(root, seed=0))


@pytest.fixture(autouse=True)
def _quiet_threads():
    """Use half the cores, as train.py does (see train.configure_cpu_threads)."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    yield


@pytest.fixture(scope="session")
def odd_dataset_root(hiershapes_root, shared_dir) -> str:
    """A DATASET.ROOT with a small HierImageFolder copy of HierShapes (4/2/3 images per class, 95 test images)."""
    from run_helpers import make_image_folder
    from shared_builds import shared_build

    return shared_build(shared_dir, "odd_data", lambda root: make_image_folder(hiershapes_root, root))


@pytest.fixture(scope="session")
def baseline_run(hiershapes_root, shared_dir) -> dict:
    """One uninterrupted single-process HGCLIP run on its own copy of the odd dataset, so that its prototype
    and few-shot caches start empty whatever ran before: what the DDP, resume and cache tests must reproduce.
    Trained once for all workers (shared_builds): copy ``dir`` before changing it.
    Returns its output dir, stdout and dataset root."""
    from run_helpers import check_ok, make_image_folder, run_train, train_args
    from shared_builds import shared_build

    def train(folder: str) -> None:
        make_image_folder(hiershapes_root, os.path.join(folder, "data"))
        stdout = check_ok(run_train(train_args(os.path.join(folder, "data"), os.path.join(folder, "run"))))
        with open(os.path.join(folder, "stdout.txt"), "w", encoding="utf-8") as handle:
            handle.write(stdout)

    folder = shared_build(shared_dir, "baseline", train)
    with open(os.path.join(folder, "stdout.txt"), encoding="utf-8") as handle:
        stdout = handle.read()
    return {"dir": os.path.join(folder, "run"), "stdout": stdout, "root": os.path.join(folder, "data")}
