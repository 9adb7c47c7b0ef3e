"""What identifies a CLIP backbone's weights: a short fingerprint that changes whenever any of them does.

A checkpoint records it (so a prompt learner trained on one backbone is never evaluated on
another under its name) and HGCLIP's prototype cache key holds it.

Every weight counts: a partial fine-tune that left the patch embedding and the projections alone
is another backbone. Weights read from a file (OpenAI's ViT-B/16 is 600 MB) are identified by the
sha256 of the file, kept in the project's cache (``$HGCLIP_CACHE/weights_digests.json``, keyed by
the file's real path, size and modification time in nanoseconds), so a file is hashed once until it
changes. Weights built here (the tiny CLIP, random or pre-trained) are identified by a digest of
their state dict, which is small.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Optional

import torch

from ..common.fileio import atomic_write_json
from ..common.paths import cache_dir

#: the attribute :mod:`.clip_loader` sets on a model read from a weights file: that file's path
WEIGHTS_FILE_ATTR = "hgclip_weights_file"
DIGEST_CACHE_FILE = "weights_digests.json"
FINGERPRINT_LENGTH = 16  # hex digits
_CHUNK = 1 << 22
_CACHE_LOCK = threading.Lock()


def backbone_fingerprint(clip_model: torch.nn.Module) -> str:
    """The digest of every weight: of the file they were read from, else of the state dict."""
    path = getattr(clip_model, WEIGHTS_FILE_ATTR, None)
    if path and os.path.isfile(path):
        return cached_file_digest(path)[:FINGERPRINT_LENGTH]
    return state_dict_digest(clip_model.state_dict())[:FINGERPRINT_LENGTH]


def legacy_fingerprint(clip_model: torch.nn.Module) -> str:
    """The fingerprint checkpoints recorded before every weight counted (the patch embedding and both
    projections only): accepted for those checkpoints so that they still load."""
    digest = hashlib.sha256()
    for tensor in (clip_model.visual.conv1.weight, clip_model.visual.proj, clip_model.text_projection):
        if tensor is not None:
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def state_dict_digest(state_dict: dict) -> str:
    """sha256 over every entry of ``state_dict`` in name order: name, dtype, shape and values."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        value = state_dict[name]
        digest.update(name.encode("utf-8") + b"\0")
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode("ascii"))
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        else:
            digest.update(repr(value).encode("utf-8"))
    return digest.hexdigest()


def hash_file(path: str) -> str:
    """The sha256 of a file's bytes (read in 4 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_cache(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            cache = json.load(handle)
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: the digests are computed again
    return cache if isinstance(cache, dict) else {}


def cached_file_digest(path: str, directory: Optional[str] = None) -> str:
    """``hash_file(path)``, from the digest cache while the file's real path, size and mtime_ns are unchanged.

    The cache is rewritten atomically; a cache that cannot be written (a read-only home) only costs a hash.
    """
    real = os.path.realpath(path)
    stat = os.stat(real)
    key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache_path = os.path.join(directory or cache_dir(), DIGEST_CACHE_FILE)
    entry = _read_cache(cache_path).get(real)
    if isinstance(entry, dict) and {k: entry.get(k) for k in key} == key and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = hash_file(real)
    with _CACHE_LOCK:
        cache = _read_cache(cache_path)  # again: another process may have added its files meanwhile
        cache[real] = {**key, "sha256": digest}
        try:
            atomic_write_json(cache_path, cache)
        except OSError:
            pass
    return digest
