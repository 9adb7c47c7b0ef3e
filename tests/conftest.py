"""Shared fixtures: one small HierShapes copy per test session, generated on first use."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def hiershapes_root(tmp_path_factory) -> str:
    """A DATASET.ROOT holding the generated HierShapes (seed 0)."""
    from embedded.hiershapes import ensure_hiershapes

    root = str(tmp_path_factory.mktemp("data"))
    ensure_hiershapes(root, seed=0)
    return root


@pytest.fixture(autouse=True)
def _quiet_threads():
    """Use half the cores, as train.py does (see train.configure_cpu_threads)."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    yield
