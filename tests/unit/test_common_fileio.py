"""Atomic writes give files the mode a plain ``open(path, "w")`` would: 0666 less the umask."""
from __future__ import annotations

import os
import stat

import pytest

from hgclip.common import fileio


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring the old one after."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _write_all(directory) -> list:
    paths = [directory / name for name in ("a.txt", "b.json", "c.bin", "d.pth")]
    fileio.atomic_write_text(str(paths[0]), "x")
    fileio.atomic_write_json(str(paths[1]), {"a": 1})
    fileio.atomic_write_bytes(str(paths[2]), b"\0")
    fileio.atomic_torch_save({"a": 1}, str(paths[3]))
    return paths


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    plain = tmp_path / "plain.txt"
    with open(plain, "w") as handle:
        handle.write("x")
    for path in _write_all(tmp_path):
        assert _mode(path) == expected == _mode(plain), path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json", "c.bin", "d.pth", "plain.txt"]


def test_rewrite_keeps_following_the_umask(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "r.json"
    fileio.atomic_write_json(str(path), {"a": 1})
    fileio.atomic_write_json(str(path), {"a": 2})
    assert _mode(path) == 0o644


def test_current_umask_reads_without_changing_it(umask):
    umask(0o027)
    assert fileio.current_umask() == 0o027
    assert fileio.current_umask() == 0o027
    assert os.umask(0o027) == 0o027


@pytest.mark.parametrize("mask, expected", [(0o022, 0o755), (0o077, 0o700)])
def test_temporary_directory_follows_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    path = fileio.temporary_directory(str(tmp_path), prefix=".t-")
    assert _mode(path) == expected
