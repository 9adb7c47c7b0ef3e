"""A backbone's fingerprint covers every weight; a weights file is hashed once (cached by path, size, mtime_ns)."""
from __future__ import annotations

import os

import pytest
import torch

from hgclip.backbones import identity
from hgclip.backbones.clip_loader import load_clip
from hgclip.embedded.tiny_clip import build_tiny_clip


@pytest.fixture
def counted_hashes(monkeypatch, tmp_path):
    """``identity.hash_file`` calls, counted; the project cache in ``tmp_path/cache``."""
    calls = []
    real = identity.hash_file

    def counting(path: str) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(identity, "hash_file", counting)
    monkeypatch.setenv("HGCLIP_CACHE", str(tmp_path / "cache"))
    return calls


def _late_tensor_changed(model: torch.nn.Module) -> torch.nn.Module:
    """The same model with one weight of the last text block nudged (a partial fine-tune)."""
    changed = build_tiny_clip(pretrained=False)
    changed.load_state_dict(model.state_dict())
    last = changed.transformer.resblocks[-1].mlp.c_proj.weight
    with torch.no_grad():
        last[0, 0] += 1e-3
    return changed


def test_weights_that_differ_in_one_late_tensor_differ():
    model = build_tiny_clip(pretrained=False)
    changed = _late_tensor_changed(model)
    assert identity.legacy_fingerprint(model) == identity.legacy_fingerprint(changed)  # what let them pass before
    assert identity.backbone_fingerprint(model) != identity.backbone_fingerprint(changed)
    copy = build_tiny_clip(pretrained=False)
    copy.load_state_dict(model.state_dict())
    assert identity.backbone_fingerprint(model) == identity.backbone_fingerprint(copy)  # the same weights
    assert len(identity.backbone_fingerprint(model)) == identity.FINGERPRINT_LENGTH


def test_a_weights_file_is_hashed_once_and_again_when_it_changes(tmp_path, counted_hashes):
    model = build_tiny_clip(pretrained=False)
    path = str(tmp_path / "clip.pt")
    torch.save(model.state_dict(), path)
    loaded = load_clip({"NAME": "ViT-B/16", "PATH": path})
    assert getattr(loaded, identity.WEIGHTS_FILE_ATTR) == path
    first = identity.backbone_fingerprint(loaded)
    assert identity.backbone_fingerprint(load_clip({"NAME": "ViT-B/16", "PATH": path})) == first
    assert counted_hashes == [path]  # the second load read the digest from the cache
    cache = tmp_path / "cache" / identity.DIGEST_CACHE_FILE
    assert cache.is_file() and path in cache.read_text()

    torch.save(_late_tensor_changed(model).state_dict(), path)  # a partial fine-tune, saved over the file
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    second = identity.backbone_fingerprint(load_clip({"NAME": "ViT-B/16", "PATH": path}))
    assert second != first and counted_hashes == [path, path]


def test_an_unwritable_cache_only_costs_a_hash(tmp_path, monkeypatch, counted_hashes):
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("HGCLIP_CACHE", str(blocked))
    assert identity.cached_file_digest(str(path)) == identity.cached_file_digest(str(path))
    assert len(counted_hashes) == 2


def test_checkpoints_with_the_older_fingerprint_still_load_and_others_are_refused():
    from hgclip.runtime.run_dir import CheckpointError, check_backbone

    model = build_tiny_clip(pretrained=False)
    here = {"name": "tiny-random", "weights": identity.backbone_fingerprint(model),
            "legacy_weights": identity.legacy_fingerprint(model)}
    check_backbone({"backbone": {"name": "tiny-random", "weights": here["legacy_weights"]}}, "old.pth", here)
    check_backbone({"backbone": {"name": "tiny-random", "weights": here["weights"]}}, "new.pth", here)
    other = identity.backbone_fingerprint(_late_tensor_changed(model))
    with pytest.raises(CheckpointError, match=f"weights {other}"):
        check_backbone({"backbone": {"name": "tiny-random", "weights": other}}, "tuned.pth", here)
