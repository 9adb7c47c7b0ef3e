"""Tiny CLIP: built from its JSON, the right class and shapes, cache keyed and reused, pre-training loop runs."""
from __future__ import annotations

import copy
import os

import pytest
import torch
from clip import tokenize
from clip.model import CLIP

from hgclip.embedded import pretrain, tiny_clip
from hgclip.embedded.captions import build_caption_bank, positive_weights
from hgclip.embedded.hiershapes import ensure_hiershapes
from hgclip.embedded.pretrain import encode_text_prefix, pretrain_clip
from hgclip.embedded.tiny_clip import build_tiny_clip, cache_key, cache_path, load_tiny_config
from hgclip.embedded.zeroshot import zero_shot_accuracy


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> str:
    return ensure_hiershapes(str(tmp_path_factory.mktemp("hs_small")), seed=0, split_sizes={"train": 2, "val": 1, "test": 1})


def test_builds_from_json_and_encodes():
    config = load_tiny_config()
    model = build_tiny_clip(pretrained=False)
    assert isinstance(model, CLIP) and not model.training
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    m = config["model"]
    assert model.context_length == m["context_length"] >= 28
    assert model.visual.input_resolution == m["image_resolution"]
    assert model.vocab_size == 49408
    with torch.no_grad():
        image_feats = model.encode_image(torch.randn(3, 3, m["image_resolution"], m["image_resolution"]))
        text_feats = model.encode_text(tokenize(["a photo of a red circle.", "a ring."], context_length=model.context_length))
    assert image_feats.shape == (3, m["embed_dim"]) and text_feats.shape == (2, m["embed_dim"])


def test_prompt_with_16_context_tokens_fits():
    model = build_tiny_clip(pretrained=False)
    prompt = " ".join(["X"] * 16) + " red circle."
    tokenize([prompt], context_length=model.context_length)  # raises if it does not fit


def test_cache_key_changes_with_any_setting(tmp_path):
    config = load_tiny_config()
    key = cache_key(config)
    assert key == cache_key(copy.deepcopy(config))
    for section, name, value in [("model", "vision_width", 64), ("pretraining", "epochs", 1),
                                 ("pretraining", "hiershapes_seed", 7), ("preprocess", "mean", [0.5, 0.5, 0.5])]:
        changed = copy.deepcopy(config)
        changed[section][name] = value
        assert cache_key(changed) != key, (section, name)
    assert cache_path(config, str(tmp_path)) == os.path.join(str(tmp_path), "tiny_clip", key + ".pt")


def test_cache_is_written_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("HGCLIP_CACHE", str(tmp_path / "cache"))
    calls = []

    def one_step(model, settings, preprocess, dataset_dir, **kwargs):
        calls.append(dataset_dir)
        optimizer = torch.optim.SGD([model.logit_scale], lr=1.0)
        (-model.logit_scale).backward()
        optimizer.step()
        model.eval()
        return {"steps": 1}

    monkeypatch.setattr(pretrain, "pretrain_clip", one_step)
    monkeypatch.setattr(tiny_clip, "ensure_hiershapes", lambda root, seed=0: os.path.join(root, "hiershapes"))
    first = build_tiny_clip(pretrained=True)
    path = cache_path(load_tiny_config(), str(tmp_path / "cache"))
    assert os.path.isfile(path) and len(calls) == 1
    assert calls[0] == os.path.join(str(tmp_path / "cache"), "data", "hiershapes")
    second = build_tiny_clip(pretrained=True)
    assert len(calls) == 1, "cached weights were not reused"
    assert not second.training
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.allclose(second.logit_scale, build_tiny_clip(pretrained=False).logit_scale + 1.0)
    build_tiny_clip(pretrained=True, force=True)
    assert len(calls) == 2


def test_text_prefix_encoding_matches_full_context():
    model = build_tiny_clip(pretrained=False)
    tokens = tokenize(["a photo of a red circle.", "a blue star.", "an image of a spiky shape."], context_length=model.context_length)
    with torch.no_grad():
        assert torch.allclose(encode_text_prefix(model, tokens, 16), model.encode_text(tokens), atol=1e-5)
    with pytest.raises(ValueError, match="train_text_length"):
        encode_text_prefix(model, tokens, 4)


def test_caption_bank_truth_and_targets():
    bank = build_caption_bank(context_length=32)
    index = {phrase: i for i, phrase in enumerate(bank.phrases)}
    red_circle, blue_circle, red_ring = 0, 16, 1
    circle = index["circle"]
    assert bank.truth[red_circle, circle] and bank.truth[blue_circle, circle] and not bank.truth[red_ring, circle]
    assert bank.truth[red_ring, index["round"]] and bank.truth[red_ring, index["red shape"]]
    assert not bank.truth[blue_circle, index["red circle"]]
    assert bank.tokens.shape == (len(bank.phrases), len(bank.templates), 32)
    assert bank.text(index["circle"], 0) == "a photo of a circle."
    targets = positive_weights(bank, torch.tensor([red_circle, red_ring]), {"object": 0.4, "shape": 0.2, "family": 0.2, "colour": 0.2})
    assert torch.allclose(targets.sum(1), torch.ones(2))
    assert torch.equal(targets > 0, bank.truth[[red_circle, red_ring]])
    assert torch.isclose(targets[0, index["red circle"]], torch.tensor(0.4))


def test_pretraining_loop_runs_a_few_steps(small_dataset):
    config = load_tiny_config()
    settings = dict(config["pretraining"], batch_size=16)
    model = build_tiny_clip(pretrained=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = pretrain_clip(model, settings, config["preprocess"], small_dataset, max_steps=2, progress=False)
    assert stats["steps"] == 2 and stats["final_loss"] > 0
    assert not model.training
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("visual.") for k in changed) and any(k.startswith("transformer.") for k in changed)


def test_zero_shot_reports_every_level(small_dataset):
    accuracy = zero_shot_accuracy(build_tiny_clip(pretrained=False), small_dataset, load_tiny_config()["preprocess"])
    assert list(accuracy) == ["family", "shape", "object"]
    assert all(0.0 <= v <= 100.0 for v in accuracy.values())


@pytest.mark.slow
def test_full_pretraining_reaches_zero_shot_targets():
    """The real recipe: useful zero-shot at every level, yet room for prompt tuning.

    Uses the user's cache ($HGCLIP_CACHE or ~/.cache/hgclip): pre-trains (about 4 min)
    unless the weights for the current tiny_clip.json are already there.
    """
    config = load_tiny_config()
    model = build_tiny_clip(pretrained=True)
    dataset_dir = ensure_hiershapes(os.path.join(tiny_clip.default_cache_dir(), "data"), seed=config["pretraining"]["hiershapes_seed"])
    accuracy = zero_shot_accuracy(model, dataset_dir, config["preprocess"])
    chance = {"family": 100 / 4, "shape": 100 / 8, "object": 100 / 32}
    assert accuracy["object"] >= 3 * chance["object"], accuracy
    for level in ("family", "shape"):
        assert chance[level] + 10 <= accuracy[level] < 95, accuracy


def test_pretraining_is_reproducible_and_leaves_the_callers_rng_alone(small_dataset, tmp_path, monkeypatch):
    """Same settings -> same weights, whatever ran before; and a training run's seed is not disturbed."""
    real = pretrain.pretrain_clip
    monkeypatch.setattr(pretrain, "pretrain_clip",
                        lambda model, settings, preprocess, dataset_dir, progress=True: real(
                            model, dict(settings, batch_size=16), preprocess, small_dataset, max_steps=2, progress=False))
    monkeypatch.setattr(tiny_clip, "ensure_hiershapes", lambda root, seed=0: small_dataset)
    config = load_tiny_config()
    weights = []
    for prior_seed in (1, 123):
        torch.manual_seed(prior_seed)
        path = str(tmp_path / f"clip{prior_seed}.pt")
        tiny_clip.pretrain_and_cache(config, path, str(tmp_path), progress=False)
        after = torch.rand(3)
        torch.manual_seed(prior_seed)
        assert torch.equal(after, torch.rand(3)), "pre-training consumed the caller's random numbers"
        weights.append(torch.load(path, weights_only=True)["state_dict"])
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


def test_a_truncated_cache_is_pretrained_again_with_a_warning(tmp_path, monkeypatch, capsys):
    """Issue 18: a truncated tiny-CLIP cache was a traceback; now it is pre-trained again (seeded: the same weights)."""
    config = tiny_clip.load_tiny_config()
    path = tiny_clip.cache_path(config, str(tmp_path))
    os.makedirs(os.path.dirname(path))
    good = tiny_clip.new_tiny_clip(config)
    torch.save({"state_dict": good.state_dict()}, path)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    calls = []

    def pretrain_stub(cfg, target, data_root, progress=True):  # stands in for the 4-minute pre-training
        calls.append(target)
        torch.save({"state_dict": good.state_dict()}, target)

    monkeypatch.setattr(tiny_clip, "pretrain_and_cache", pretrain_stub)
    model = tiny_clip.build_tiny_clip(pretrained=True, cache_dir=str(tmp_path), config=config)
    assert calls == [path] and "cannot be read" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), good.state_dict().values()))
