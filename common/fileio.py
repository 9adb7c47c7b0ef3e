"""Project file I/O shared by both engines: atomic writes (a reader never sees a half-written
checkpoint or result file). Reading checkpoints, with one-line errors, is :mod:`hgclip.runtime.run_dir`.

Each writer writes into a temporary file in the destination directory and then
``os.replace``-s it over the target, which is atomic on POSIX and Windows. The temporary file
(``mkstemp`` makes it 0600) gets the mode a plain ``open(path, "w")`` would have given the file,
``0666 & ~umask``, before the rename: results, reports and logs of one run share one set of permissions.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import threading
from typing import Any

import torch

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the kernel shows it (``/proc/self/status``,
    Linux 4.7+); elsewhere set and restored at once under a lock, so two writers never see 0."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        umask = os.umask(0o022)
        os.umask(umask)
    return umask


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 less the umask (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def temporary_directory(directory: str, prefix: str) -> str:
    """``tempfile.mkdtemp`` in ``directory`` with the mode ``os.makedirs`` would give (0777 less the umask,
    not mkdtemp's 0700): a dataset built there and renamed into place is readable by whoever may read its root."""
    path = tempfile.mkdtemp(prefix=prefix, dir=directory)
    os.chmod(path, 0o777 & ~current_umask())
    return path


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old or the new file.

    A full disk, a read-only file system or a directory in the way raises an ``OSError`` that names
    ``path`` (the error of a write names no file, that of the temporary file one the user never asked for).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp_path = ""
    try:
        fd, tmp_path = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_path, default_file_mode())  # mkstemp's 0600 -> what open(path, "w") would have made
        os.replace(tmp_path, path)
    except BaseException as error:
        if tmp_path and os.path.exists(tmp_path):
            os.remove(tmp_path)  # the disk gets back what the half-written copy took
        if isinstance(error, OSError) and error.errno is not None and error.filename in (None, tmp_path):
            raise OSError(error.errno, error.strerror, path) from None  # the same subclass (IsADirectoryError, ...)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` through an in-memory buffer, then an atomic replace."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())
