"""Build an expensive fixture (a generated dataset, a trained run) once per test run, not once per worker.

pytest-xdist's workers of one run share the parent of their base temp folders
(``<basetemp>/popen-gw0`` ...): :func:`shared_build` builds into ``<that parent>/shared/<name>``
under a file lock and marks it complete, so a worker either builds it or waits and uses the
other's. Without xdist it is the session's own temp folder.
Whatever is built there is read-only to tests: a test that changes a run copies it first.
"""
from __future__ import annotations

import fcntl
import os
import os.path as osp
import shutil
from typing import Callable

import pytest

#: A folder to share instead (a pytest run started by a test passes its own run's, so that it reuses its builds)
SHARED_DIR_VARIABLE = "HGCLIP_TEST_SHARED_DIR"


def shared_root(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The folder that every worker of this test run sees (the session's base temp without xdist)."""
    path = os.environ.get(SHARED_DIR_VARIABLE, "")
    if not path:
        base = tmp_path_factory.getbasetemp()
        path = osp.join(str(base.parent if hasattr(config, "workerinput") else base), "shared")  # an xdist worker?
    os.makedirs(path, exist_ok=True)
    return path


def shared_build(root: str, name: str, build: Callable[[str], None]) -> str:
    """``<root>/<name>`` (``root``: the ``shared_dir`` fixture, :func:`shared_root`), made by ``build(folder)``
    (into that empty folder) unless a worker did it.

    It is built in place (runs record their absolute paths) and marked complete afterwards; a build that
    failed is removed and made again by the next caller."""
    target = osp.join(root, name)
    done = osp.join(root, f".{name}.done")
    with open(osp.join(root, f".{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held until built: the other worker waits, then finds it done
        if not osp.exists(done):
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            build(target)
            with open(done, "w", encoding="utf-8"):
                pass
    return target
