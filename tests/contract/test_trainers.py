"""The contract every registered hierarchical trainer honours (timm-style: new trainers get these checks free).

The parameters come from the registry (``hgclip.registry.list_trainers``), read at collection time:
a trainer registered before collection (``pytest --trainer-module FILE``, see conftest.py) is checked too.
"""
from __future__ import annotations

import math

import pytest
import torch
from trainer_helpers import TRAIN_STEP_OPTIONS, first_batch, make_trainer

from hgclip.registry import list_trainers
from hgclip.runtime.dassl_api import set_random_seed

PROJECT_TRAINERS = list_trainers()
TRAINABLE = list_trainers(trainable=True)


@pytest.mark.parametrize("name", PROJECT_TRAINERS)
def test_builds_and_logits_cover_every_level(name, hiershapes_root, tmp_path):
    trainer = make_trainer(name, hiershapes_root, str(tmp_path / "out"))
    h = trainer.hierarchy
    assert h.level_sizes == (4, 8, 32)
    batch = first_batch(trainer)
    trainer.set_model_mode("eval")
    with torch.no_grad():
        logits = trainer.model_inference(batch["img"])
    assert logits.shape == (batch["img"].shape[0], h.num_nodes)
    parts = h.split_logits(logits)
    assert [p.shape[1] for p in parts] == list(h.level_sizes)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", TRAINABLE)
def test_train_steps_lower_the_loss(name, hiershapes_root, tmp_path):
    trainer = make_trainer(name, hiershapes_root, str(tmp_path / "out"), "OPTIM.LR", "0.01",
                           "OPTIM.WARMUP_EPOCH", "0", *TRAIN_STEP_OPTIONS.get(name, ()))
    batch = first_batch(trainer)
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 10**6  # keep the LR fixed
    losses = [trainer.forward_backward(batch)["loss"] for _ in range(8)]
    assert losses[-1] < losses[0], losses


#: ProTeCt's two terms (``LOSS.PROTECT``), each switched on alone
PROTECT_TERMS = {"ncl": ("LOSS.PROTECT.NODE_WEIGHT", "1.0"), "dtl": ("LOSS.PROTECT.TREECUT_WEIGHT", "1.0")}


@pytest.mark.parametrize("term", sorted(PROTECT_TERMS))
@pytest.mark.parametrize("name", TRAINABLE)
def test_protect_losses_train_every_trainer(name, term, hiershapes_root, tmp_path):
    trainer = make_trainer(name, hiershapes_root, str(tmp_path / "out"), "OPTIM.LR", "0.01", "OPTIM.WARMUP_EPOCH", "0",
                           *PROTECT_TERMS[term], *TRAIN_STEP_OPTIONS.get(name, ()))
    batch = first_batch(trainer)
    trainer.set_model_mode("train")
    trainer.epoch, trainer.batch_idx, trainer.num_batches = 0, 0, 10**6
    summaries = [trainer.forward_backward(batch) for _ in range(8)]  # (HGCLIP builds its prototypes on the first)
    assert all(math.isfinite(s[term]) and s[term] >= 0 for s in summaries)
    assert summaries[-1]["loss"] < summaries[0]["loss"], [s["loss"] for s in summaries]
    images, labels = trainer.parse_batch_train(batch)
    trainer.model_zero_grad()
    term_value, terms = trainer.protect(trainer.model(images), labels, cut_seed=0)
    term_value.backward()  # the term alone reaches the learned prompts
    grads = [p.grad for p in trainer.model.learner.parameters() if p.requires_grad]
    assert sorted(terms) == [term] and any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", TRAINABLE)
def test_checkpoint_round_trip(name, hiershapes_root, tmp_path):
    out = str(tmp_path / "out")
    trainer = make_trainer(name, hiershapes_root, out, "OPTIM.LR", "0.05")
    batch = first_batch(trainer)
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 10**6
    trainer.forward_backward(batch)
    trainer.save_model(0, out)
    trainer.set_model_mode("eval")
    with torch.no_grad():
        expected = trainer.model_inference(batch["img"])

    fresh = make_trainer(name, hiershapes_root, str(tmp_path / "other"))
    fresh.load_model(out, epoch=1)
    fresh.set_model_mode("eval")
    with torch.no_grad():
        got = fresh.model_inference(batch["img"])
    torch.testing.assert_close(got, expected)
    saved = torch.load(f"{out}/prompt_learner/model.pth.tar-1", weights_only=False)["state_dict"]
    assert not any(key.startswith(("clip_model", "text_encoder", "image_encoder")) for key in saved)
    assert not any("token_prefix" in key or "prototypes" in key for key in saved), "class-dependent tensors saved"


@pytest.mark.parametrize("name", TRAINABLE)
def test_model_trained_on_base_loads_for_new(name, hiershapes_root, tmp_path):
    out = str(tmp_path / "base")
    base = make_trainer(name, hiershapes_root, out, "DATASET.SUBSAMPLE_CLASSES", "base")
    base.save_model(0, out)
    new = make_trainer(name, hiershapes_root, str(tmp_path / "new"), "DATASET.SUBSAMPLE_CLASSES", "new")
    assert set(new.hierarchy.leaf_names).isdisjoint(base.hierarchy.leaf_names)
    new.load_model(out)
    for key, value in base.model.learner.state_dict().items():
        torch.testing.assert_close(new.model.learner.state_dict()[key], value)
    new.set_model_mode("eval")
    with torch.no_grad():
        logits = new.model_inference(first_batch(new)["img"])
    assert logits.shape[1] == new.hierarchy.num_nodes


def test_zeroshot_has_nothing_to_train(hiershapes_root, tmp_path):
    trainer = make_trainer("ZeroshotCLIP", hiershapes_root, str(tmp_path / "out"))
    assert trainer.get_model_names() == [] or list(trainer.get_model_names()) == []
    assert not any(p.requires_grad for p in trainer.model.parameters())


def test_fp16_on_cpu_falls_back_with_one_warning(hiershapes_root, tmp_path):
    with pytest.warns(UserWarning, match="needs CUDA; running in fp32") as record:
        trainer = make_trainer("CoOp", hiershapes_root, str(tmp_path / "out"), "TRAINER.COOP.PREC", "fp16")
    assert sum("needs CUDA" in str(w.message) for w in record) == 1
    assert trainer.precision == "fp32"
    assert next(trainer.model.clip_model.parameters()).dtype == torch.float32


def test_level_weights_length_is_checked(hiershapes_root, tmp_path):
    with pytest.raises(ValueError, match=r"TRAINER.COOP.LEVEL_WEIGHTS has 2 values but the hierarchy has 3 levels"):
        make_trainer("CoOp", hiershapes_root, str(tmp_path / "out"), "TRAINER.COOP.LEVEL_WEIGHTS", "[1.0, 2.0]")


# ---------------------------------------------------------------- the real loop
# One epoch (8 shots, 16 batches) through trainer.train() with the random tiny CLIP. The mean loss of the
# last quarter of the batches must be below that of the first quarter. VPT learns only vision prompts
# against random frozen text features, so it needs a larger step to move within one epoch.
ONE_EPOCH_LR = {"VPT": "0.1"}


@pytest.mark.parametrize("name", TRAINABLE)
def test_one_epoch_through_the_real_loop(name, hiershapes_root, tmp_path):
    set_random_seed(1)  # as train.py does; the random CLIP's learning curve is noisy otherwise
    trainer = make_trainer(name, hiershapes_root, str(tmp_path / "o"), "OPTIM.WARMUP_EPOCH", "0",
                           "OPTIM.LR", ONE_EPOCH_LR.get(name, "0.02"), "DATASET.NUM_SHOTS", "8",
                           "TEST.NO_TEST", "True")
    before = {k: v.clone() for k, v in trainer.model.learner.state_dict().items()}
    losses = []
    forward_backward = trainer.forward_backward

    def recording(batch):
        summary = forward_backward(batch)
        losses.append(summary["loss"])
        return summary

    trainer.forward_backward = recording
    trainer.train()
    assert len(losses) == trainer.num_batches >= 8
    assert all(torch.isfinite(torch.tensor(losses)))
    after = trainer.model.learner.state_dict()
    assert any(not torch.allclose(after[k], before[k]) for k in before)
    q = len(losses) // 4
    assert sum(losses[-q:]) / q < sum(losses[:q]) / q, losses


@pytest.mark.parametrize("name", PROJECT_TRAINERS)
def test_cached_evaluation_equals_per_batch_logits(name, hiershapes_root, tmp_path):
    """Evaluation computes image-independent work once (inference mode, cached text features and prototypes);
    the logits equal those of a per-batch computation (gradients on: nothing cached)."""
    trainer = make_trainer(name, hiershapes_root, str(tmp_path / "out"))
    images = first_batch(trainer)["img"]
    trainer.set_model_mode("eval")
    with torch.inference_mode():
        first = trainer.model_inference(images[:8])
        cached = trainer.model_inference(images[8:])
    with torch.enable_grad():
        trainer.model.clear_cache() if hasattr(trainer.model, "clear_cache") else None
        plain = torch.cat([trainer.model_inference(images[:8]), trainer.model_inference(images[8:])]).detach()
    torch.testing.assert_close(torch.cat([first, cached]), plain, rtol=1e-5, atol=1e-5)


def test_bf16_runs_on_the_cpu(hiershapes_root, tmp_path):
    """PREC bf16: autocast on the CPU (no fallback), a step trains, logits stay close to fp32's."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "needs CUDA" fallback for bf16
        trainer = make_trainer("HGCLIP", hiershapes_root, str(tmp_path / "bf16"), "TRAINER.HGCLIP.PREC", "bf16")
    assert trainer.precision == "bf16"
    batch = first_batch(trainer)
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 10**6
    before = {k: v.clone() for k, v in trainer.model.learner.state_dict().items()}
    summary = trainer.forward_backward(batch)
    assert torch.isfinite(torch.tensor(summary["loss"]))
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.learner.state_dict().items())
    reference = make_trainer("HGCLIP", hiershapes_root, str(tmp_path / "fp32"), "TRAINER.HGCLIP.PREC", "fp32")
    reference.model.learner.load_state_dict(trainer.model.learner.state_dict())
    for t in (trainer, reference):
        t.set_model_mode("eval")
    with torch.inference_mode():
        low, high = trainer.model_inference(batch["img"]), reference.model_inference(batch["img"])
    assert low.dtype == torch.float32
    assert (low.argmax(1) == high.argmax(1)).float().mean() > 0.8 and (low - high).abs().max() < 1.0
