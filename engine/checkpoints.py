"""Checkpoint files in Dassl's layout that a run can resume from exactly, and trust.

A registered model's folder (``<output dir>/prompt_learner/``) holds:

* ``model.pth.tar-<E>``: the state after epoch ``E`` (Dassl's name);
* ``model.pth.tar-<E>-iter<I>``: the state after ``I`` iterations of epoch ``E``
  (written every ``TRAIN.CHECKPOINT_FREQ_ITERS`` iterations);
* ``model-best.pth.tar`` (``TEST.FINAL_MODEL best_val``), ``checkpoint`` (Dassl's pointer
  to the newest resume point) and ``checkpoints.sha256`` (``sha256sum -c`` format: the
  digest of every file, checked before a file is trusted).

Every file is written atomically. Each checkpoint holds Dassl's keys (``state_dict``,
``epoch``, ``optimizer``, ``scheduler``, ``val_result``) plus ``trainer`` (the class that
wrote it), ``batch`` (iterations into the next epoch) and ``run_state`` (RNG states,
sampler position, grad scaler, trainer state: see the trainer base class).

:func:`read_verified` turns every way a file can be bad (truncated, corrupt, not a
checkpoint) into a one-line :class:`CheckpointError`.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

import torch

from ..common.errors import InputError
from ..common.fileio import atomic_write_bytes, atomic_write_text

POINTER_FILE = "checkpoint"
BEST_FILE = "model-best.pth.tar"
DIGEST_FILE = "checkpoints.sha256"
_EPOCH_FILE = re.compile(r"^model\.pth\.tar-(\d+)$")
_ITER_FILE = re.compile(r"^model\.pth\.tar-(\d+)-iter(\d+)$")
_TMP_PREFIX = ".tmp-"


class CheckpointError(InputError):
    """A checkpoint file that cannot be used (the message names it and says why)."""


@dataclass(frozen=True, order=True)
class ResumePoint:
    """Where a checkpoint leaves training: ``epochs_done`` full epochs plus ``batches_done`` iterations."""

    epochs_done: int
    batches_done: int
    filename: str = field(compare=False)


def resume_point_name(epochs_done: int, batches_done: int = 0) -> str:
    """``model.pth.tar-<E>`` after epoch E; ``model.pth.tar-<E>-iter<I>`` inside epoch E (1-based)."""
    if batches_done == 0:
        return f"model.pth.tar-{epochs_done}"
    return f"model.pth.tar-{epochs_done + 1}-iter{batches_done}"


def parse_resume_point(filename: str) -> Optional[ResumePoint]:
    match = _EPOCH_FILE.match(filename)
    if match:
        return ResumePoint(int(match.group(1)), 0, filename)
    match = _ITER_FILE.match(filename)
    if match:
        return ResumePoint(int(match.group(1)) - 1, int(match.group(2)), filename)
    return None


def list_resume_points(model_dir: str) -> list[ResumePoint]:
    """The resume points in ``model_dir``, oldest first."""
    if not os.path.isdir(model_dir):
        return []
    points = [parse_resume_point(name) for name in os.listdir(model_dir)]
    return sorted(point for point in points if point is not None)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_digests(model_dir: str) -> dict[str, str]:
    path = os.path.join(model_dir, DIGEST_FILE)
    digests: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.strip().split(None, 1)
                if len(parts) == 2:
                    digests[parts[1].lstrip("*")] = parts[0]
    except (OSError, UnicodeDecodeError):
        return {}
    return digests


def _write_digests(model_dir: str, digests: dict[str, str]) -> None:
    present = {name: value for name, value in sorted(digests.items()) if os.path.isfile(os.path.join(model_dir, name))}
    atomic_write_text(os.path.join(model_dir, DIGEST_FILE), "".join(f"{v}  {k}\n" for k, v in present.items()))


def write_checkpoint(state: dict, model_dir: str, filename: str, update_pointer: bool = True) -> str:
    """Save ``state`` to ``model_dir/filename`` atomically, record its digest, and (optionally) point to it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    path = os.path.join(model_dir, filename)
    atomic_write_bytes(path, data)
    digests = read_digests(model_dir)
    digests[filename] = _digest(data)
    _write_digests(model_dir, digests)
    if update_pointer:
        atomic_write_text(os.path.join(model_dir, POINTER_FILE), filename + "\n")
    return path


def read_verified(path: str) -> dict:
    """The checkpoint at ``path`` on the CPU, or a one-line :class:`CheckpointError` saying why it cannot be used.

    ``weights_only=False``: Dassl checkpoints hold non-tensor entries (scheduler and RNG
    state). Only load files you trust.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as handle:
        data = handle.read()
    expected = read_digests(os.path.dirname(path)).get(os.path.basename(path))
    if expected is not None and _digest(data) != expected:
        raise CheckpointError(f"{path}: truncated or corrupt ({len(data)} bytes, sha256 differs from "
                              f"{DIGEST_FILE}); expected a complete checkpoint")
    try:
        checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as error:
        reason = " ".join(str(error).split())[:160]
        raise CheckpointError(f"{path}: truncated or corrupt, not a readable checkpoint ({len(data)} bytes: "
                              f"{reason})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        found = sorted(checkpoint)[:6] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"{path}: not a Dassl checkpoint (expected a dict with 'state_dict', found {found})")
    return checkpoint


def check_trainer(checkpoint: dict, path: str, trainer: str) -> None:
    """Refuse a checkpoint written by another trainer (recorded in ``checkpoint['trainer']``)."""
    written_by = checkpoint.get("trainer")
    if written_by is not None and written_by != trainer:
        raise CheckpointError(f"{path}: written by trainer {written_by}, but this run's trainer is {trainer}; "
                              f"expected a {trainer} checkpoint")


def check_state_dict(module: torch.nn.Module, state_dict: dict, path: str) -> None:
    """One-line errors for a state dict that does not fit ``module`` (names and shapes)."""
    expected = module.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} parameter(s) such as {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unknown parameter(s) such as {unexpected[:3]}")
        raise CheckpointError(f"{path}: does not fit this model ({'; '.join(parts)}); "
                              "expected a checkpoint of the same trainer and settings")
    for key, value in state_dict.items():
        if tuple(expected[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{path}: parameter {key!r} has shape {tuple(value.shape)} in the checkpoint but "
                f"{tuple(expected[key].shape)} here (a different setting such as the prompt length, or "
                "class-specific parameters that cannot transfer to another class set)"
            )


def remove_stale_temporaries(model_dir: str) -> None:
    """Delete half-written files a killed run left (atomic writes go through ``.tmp-*`` files)."""
    if not os.path.isdir(model_dir):
        return
    for name in os.listdir(model_dir):
        if name.startswith(_TMP_PREFIX):
            try:
                os.remove(os.path.join(model_dir, name))
            except OSError:
                pass


def prune_resume_points(model_dir: str, keep: Iterable[str], keep_newest: int = 2) -> list[str]:
    """Delete resume points other than ``keep`` and the ``keep_newest`` newest ones; return what was deleted.

    The two newest stay so that a truncated newest file still leaves one to fall back on.
    """
    points = list_resume_points(model_dir)
    kept = set(keep) | {point.filename for point in points[-keep_newest:]}
    removed = []
    for point in points:
        if point.filename not in kept:
            os.remove(os.path.join(model_dir, point.filename))
            removed.append(point.filename)
    if removed:
        _write_digests(model_dir, read_digests(model_dir))
    return removed
