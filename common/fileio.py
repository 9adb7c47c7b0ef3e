"""Project file I/O shared by both engines: atomic writes (a reader never sees a half-written
checkpoint or result file). Reading checkpoints, with one-line errors, is :mod:`hgclip.runtime.run_dir`.

Each writer writes into a temporary file in the destination directory and then
``os.replace``-s it over the target, which is atomic on POSIX and Windows.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Any

import torch


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
