"""load_clip: local weight files, download failure message, tiny backbones, bad names."""
import os
import urllib.error

import clip
import pytest
import torch
from yacs.config import CfgNode

from hgclip.backbones import load_clip
from hgclip.backbones.testing import random_clip
from hgclip.common.errors import InputError


def _cfg(name="ViT-B/16", path="", root=""):
    return CfgNode({"NAME": name, "PATH": path, "DOWNLOAD_ROOT": root})


@pytest.fixture(scope="module")
def small_model():
    # text_heads = width // 64 so clip's build_model infers the same architecture
    return random_clip(context_length=32, text_layers=2, vision_layers=2, text_heads=1, seed=4)


def _check_same(loaded, small_model):
    assert isinstance(loaded, clip.model.CLIP)
    assert not loaded.training
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in loaded.parameters())
    tokens = clip.tokenize(["a photo of a dog."], context_length=32)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_text(tokens), small_model.encode_text(tokens), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(loaded.encode_image(images), small_model.encode_image(images), atol=1e-5, rtol=1e-5)


def test_load_state_dict_file_through_path(tmp_path, small_model):
    path = tmp_path / "weights.pt"
    torch.save(small_model.state_dict(), path)
    _check_same(load_clip(_cfg(path=str(path))), small_model)


@pytest.mark.filterwarnings("ignore")  # torch.jit.trace deprecation and tracer warnings
def test_load_jit_archive_through_path(tmp_path, small_model):
    """OpenAI ships traced JIT archives; a traced copy of the small model stands in for one."""
    example = (torch.randn(1, 3, 32, 32), clip.tokenize(["a"], context_length=32))
    with torch.no_grad():
        traced = torch.jit.trace(small_model, example, check_trace=False)
    path = tmp_path / "ViT-small.pt"
    traced.save(str(path))
    _check_same(load_clip(_cfg(path=str(path))), small_model)


def test_load_fp16_state_dict_returns_fp32(tmp_path, small_model):
    """OpenAI files hold fp16 weights; load_clip hands back fp32 anyway."""
    path = tmp_path / "weights16.pt"
    torch.save({k: v.half() for k, v in small_model.state_dict().items()}, path)
    loaded = load_clip(_cfg(path=str(path)))
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    ref = {k: v.half().float() for k, v in small_model.state_dict().items()}
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, ref[k])


def test_missing_path_file(tmp_path):
    missing = str(tmp_path / "nope" / "ViT-B-16.pt")
    with pytest.raises(FileNotFoundError, match="MODEL.BACKBONE.PATH") as info:
        load_clip(_cfg(path=missing))
    assert missing in str(info.value)


def test_non_clip_state_dict(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(InputError, match="MODEL.BACKBONE.PATH.*text_projection"):
        load_clip(_cfg(path=str(path)))


def test_corrupt_path_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="MODEL.BACKBONE.PATH") as info:
        load_clip(_cfg(path=str(bad)))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("root", ["", "custom"])
def test_download_failure_is_one_clear_line(tmp_path, monkeypatch, root):
    calls = []

    def offline(url, root):
        calls.append((url, root))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(clip.clip, "_download", offline)
    root = str(tmp_path / root) if root else ""
    with pytest.raises(InputError) as info:
        load_clip(_cfg(name="ViT-B/16", root=root))
    msg = str(info.value)
    expected_root = root or os.path.expanduser("~/.cache/clip")
    assert "\n" not in msg
    assert msg.startswith("Could not download ViT-B/16 weights")
    assert f"Put ViT-B-16.pt in {expected_root} (MODEL.BACKBONE.DOWNLOAD_ROOT)" in msg
    assert "MODEL.BACKBONE.PATH" in msg
    assert calls == [(clip.clip._MODELS["ViT-B/16"], expected_root)]


def test_unknown_name():
    with pytest.raises(ValueError, match="MODEL.BACKBONE.NAME") as info:
        load_clip(_cfg(name="ViT-X/99"))
    assert "ViT-B/16" in str(info.value) and "tiny" in str(info.value)


@pytest.mark.parametrize("name, pretrained", [("tiny", True), ("tiny-random", False)])
def test_tiny_names_delegate_to_embedded(monkeypatch, small_model, name, pretrained):
    """The embedded package registers its builders; load_clip calls them and hands back fp32 + eval."""
    from hgclip.embedded import tiny_clip

    seen = []

    def build_tiny_clip(pretrained=True, cache_dir=None, data_root=None):
        seen.append(pretrained)
        return small_model.double().train()

    monkeypatch.setattr(tiny_clip, "build_tiny_clip", build_tiny_clip)
    try:
        model = load_clip(_cfg(name=name))
    finally:
        small_model.float().eval()
    assert seen == [pretrained]
    assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())


def test_local_backbones_are_registered_not_imported(monkeypatch, small_model):
    """A name registered with register_local_backbone is built by its builder; a second builder is refused."""
    from hgclip.backbones import clip_loader

    monkeypatch.setattr(clip_loader, "_LOCAL_BACKBONES", {})
    assert clip_loader.local_backbone_names() == []
    with pytest.raises(ValueError, match="is unknown"):
        load_clip(_cfg(name="mine"))
    build = lambda: small_model  # noqa: E731
    clip_loader.register_local_backbone("mine", build)
    clip_loader.register_local_backbone("mine", build)  # idempotent
    assert load_clip(_cfg(name="mine")) is small_model and "mine" in clip_loader.accepted_backbone_names()
    with pytest.raises(KeyError, match="already registered"):
        clip_loader.register_local_backbone("mine", lambda: small_model)


def test_tiny_rejects_path(tmp_path):
    with pytest.raises(ValueError, match="MODEL.BACKBONE.PATH"):
        load_clip(_cfg(name="tiny", path=str(tmp_path / "x.pt")))


def test_tiny_random_real_module():
    pytest.importorskip("hgclip.embedded.tiny_clip")
    model = load_clip(_cfg(name="tiny-random"))
    assert isinstance(model, clip.model.CLIP)
    assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
