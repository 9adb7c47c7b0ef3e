"""Mechanism tests of the baseline trainers (CoCoOp, MaPLe, VPT, KgCoOp, PromptSRC).

Each test fails when the method's distinguishing mechanism is removed; the
generic contract (build, loss, checkpoints, base->new) is in test_trainers.py.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from trainer_helpers import first_batch, make_trainer

from hgclip.backbones.testing import random_clip
from hgclip.models.losses import knowledge_guidance_loss, level_kl_divergence
from hgclip.models.prompt_aggregation import gaussian_epoch_weights, scaled_gpa_moments
from hgclip.models.prompt_coupling import PromptCoupling


def _fixed_lr(trainer):
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 10**6


# ---------------------------------------------------------------- CoCoOp
def test_cocoop_text_depends_on_the_image(hiershapes_root, tmp_path):
    trainer = make_trainer("CoCoOp", hiershapes_root, str(tmp_path / "o"))
    model = trainer.model
    images = first_batch(trainer)["img"][:2]
    with torch.no_grad():
        torch.nn.init.normal_(model.learner.meta_net.linear2.weight, std=0.5)
        image = model.image_features(images)
        shift = model.learner.meta_net(image)
        text = model.text_features(shift)  # [2, K, D]
        assert not torch.allclose(text[0], text[1], atol=1e-4), "per-image text features must differ"
        # removing the meta-net's contribution changes the logits
        logits = model(images)
        plain = model(images, ctx_shift=torch.zeros_like(shift))
        assert not torch.allclose(logits, plain, atol=1e-3)
        # with a zero shift every image sees the same text: logits are explained by the image feature alone
        same = model.text_features(torch.zeros_like(shift))
        torch.testing.assert_close(same[0], same[1])
    assert model.learner.meta_net.linear1.out_features == max(1, model.clip_model.visual.output_dim // 16)


# ---------------------------------------------------------------- MaPLe
def test_maple_vision_prompts_are_a_function_of_the_text_prompts(hiershapes_root, tmp_path):
    trainer = make_trainer("MaPLe", hiershapes_root, str(tmp_path / "o"))
    model = trainer.model
    names = [n for n, _ in model.learner.named_parameters()]
    assert all(n.startswith(("text_prompts.", "coupling.")) for n in names), names
    assert model.learner.vision_prompts is None
    images = first_batch(trainer)["img"][:2]
    with torch.no_grad():
        ctx_before, deep_before = model.vision_prompts()
        image_before = model.encode_images(images)
        model.learner.text_prompts.ctx.add_(torch.randn_like(model.learner.text_prompts.ctx))
        model.learner.text_prompts.deep_ctx.add_(torch.randn_like(model.learner.text_prompts.deep_ctx))
        ctx_after, deep_after = model.vision_prompts()
        image_after = model.encode_images(images)
    assert not torch.allclose(ctx_before, ctx_after)
    assert not torch.allclose(deep_before, deep_after)
    assert not torch.allclose(image_before, image_after, atol=1e-4)
    # gradients of an image-only loss reach the language prompts
    model.encode_images(images).sum().backward()
    assert model.learner.text_prompts.ctx.grad.abs().sum() > 0
    assert model.learner.text_prompts.deep_ctx.grad.abs().sum() > 0


def test_maple_widths_come_from_the_model():
    clip_model = random_clip(embed_dim=32, vision_width=128, text_width=64, vision_layers=3, text_layers=3)
    from hgclip.models.maple import MaPLeModel

    model = MaPLeModel(clip_model, ["red circle", "blue ring"], n_ctx=2, depth=3, ctx_init="a photo of a")
    ctx, deep = model.vision_prompts()
    assert ctx.shape == (2, 128) and deep.shape == (2, 2, 128)
    assert model.learner.coupling.input_projection.in_features == 64
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 2)
    coupling = PromptCoupling(64, 128, 3)
    torch.testing.assert_close(coupling.deep_projections[0].weight, coupling.deep_projections[1].weight)


# ---------------------------------------------------------------- VPT
def test_vpt_text_is_frozen_and_vision_prompts_act(hiershapes_root, tmp_path):
    trainer = make_trainer("VPT", hiershapes_root, str(tmp_path / "o"))
    model = trainer.model
    assert all(n.startswith("vision_prompts.") for n, _ in model.learner.named_parameters())
    assert "text_features" not in model.state_dict()  # non-persistent, not a parameter
    assert not model.text_features.requires_grad
    images = first_batch(trainer)["img"][:2]
    text_before = model.text_features.clone()
    _fixed_lr(trainer)
    trainer.forward_backward(first_batch(trainer))
    torch.testing.assert_close(model.text_features, text_before)
    with torch.no_grad():
        prompted = model.encode_images(images)
        plain = model.image_encoder(images)
    assert not torch.allclose(prompted, plain, atol=1e-4)


# ---------------------------------------------------------------- KgCoOp
def test_kgcoop_loss_has_the_knowledge_guidance_term(hiershapes_root, tmp_path):
    trainers = {w: make_trainer("KgCoOp", hiershapes_root, str(tmp_path / w), "TRAINER.KGCOOP.W", w)
                for w in ("0.0", "8.0", "16.0")}
    batch = first_batch(trainers["0.0"])
    images, labels = batch["img"], batch["label"]
    losses, kgs = {}, {}
    # a random (not constant: pre-LN transformers ignore a shift along the all-ones direction) perturbation
    ctx = trainers["0.0"].model.learner.text_prompts.ctx
    perturbation = 0.3 * torch.randn(ctx.shape, generator=torch.Generator().manual_seed(0))
    for w, trainer in trainers.items():
        trainer.set_model_mode("train")
        with torch.no_grad():
            trainer.model.learner.text_prompts.ctx.add_(perturbation)  # away from the hand-crafted prompt
            loss, terms = trainer.compute_loss(images, labels)
            ce = trainers["0.0"].compute_loss(images, labels)[0] if w == "0.0" else None
        losses[w], kgs[w] = float(loss), float(terms["kg"])
        if ce is not None:
            # W = 0 is plain CoOp: the per-level CE alone
            from hgclip.models.losses import cross_entropy_terms
            with torch.no_grad():
                logits = trainer.model(images)
            plain, _ = cross_entropy_terms(logits, labels, trainer.hierarchy, trainer.level_weights)
            assert losses[w] == pytest.approx(float(plain), rel=1e-5)
    assert kgs["8.0"] > 1e-4 and kgs["8.0"] == pytest.approx(kgs["16.0"], rel=1e-4)
    assert losses["8.0"] - losses["0.0"] == pytest.approx(8.0 * kgs["8.0"], rel=1e-3)
    assert losses["16.0"] - losses["0.0"] == pytest.approx(16.0 * kgs["8.0"], rel=1e-3)


def test_knowledge_guidance_loss_values():
    a = F.normalize(torch.randn(5, 8), dim=-1)
    assert float(knowledge_guidance_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(knowledge_guidance_loss(a, -a)) == pytest.approx(4.0, rel=1e-5)
    b = torch.randn(5, 8)
    cos = F.cosine_similarity(a, b).mean()
    assert float(knowledge_guidance_loss(a, b)) == pytest.approx(float(2 * (1 - cos)), rel=1e-5)


def test_kgcoop_at_template_init_has_zero_term(hiershapes_root, tmp_path):
    trainer = make_trainer("KgCoOp", hiershapes_root, str(tmp_path / "o"), "TRAINER.KGCOOP.TEMPLATE", "a photo of a {}.")
    batch = first_batch(trainer)
    with torch.no_grad():
        _, terms = trainer.compute_loss(batch["img"], batch["label"])
    assert float(terms["kg"]) == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------- PromptSRC
def _promptsrc_losses(trainer, images, labels):
    with torch.no_grad():
        return trainer.compute_loss(images, labels)


def test_promptsrc_regularisers_are_present_and_weighted(hiershapes_root, tmp_path):
    base_opts = ["TRAINER.PROMPTSRC.TEXT_LOSS_WEIGHT", "0", "TRAINER.PROMPTSRC.IMAGE_LOSS_WEIGHT", "0",
                 "TRAINER.PROMPTSRC.KL_LOSS_WEIGHT", "0.0"]
    zero = make_trainer("PromptSRC", hiershapes_root, str(tmp_path / "z"), *base_opts)
    batch = first_batch(zero)
    images, labels = batch["img"], batch["label"]
    zero.set_model_mode("train")
    loss0, terms = _promptsrc_losses(zero, images, labels)
    for name in ("l1_text", "l1_image", "kl"):
        assert float(terms[name]) > 0, name
    ce = sum(w * terms[f"ce_{lvl}"] for w, lvl in zip(zero.level_weights, zero.hierarchy.level_names))
    assert float(loss0) == pytest.approx(float(ce), rel=1e-5)
    for key, term in (("TEXT_LOSS_WEIGHT", "l1_text"), ("IMAGE_LOSS_WEIGHT", "l1_image"), ("KL_LOSS_WEIGHT", "kl")):
        opts = list(base_opts)
        opts[opts.index(f"TRAINER.PROMPTSRC.{key}") + 1] = "3.0" if key == "KL_LOSS_WEIGHT" else "3"
        trainer = make_trainer("PromptSRC", hiershapes_root, str(tmp_path / key), *opts)
        trainer.model.learner.load_state_dict(zero.model.learner.state_dict())
        trainer.set_model_mode("train")
        loss, terms_w = _promptsrc_losses(trainer, images, labels)
        assert float(loss - loss0) == pytest.approx(3.0 * float(terms[term]), rel=1e-3), key


def test_promptsrc_regularisers_vanish_when_the_student_is_the_teacher(hiershapes_root, tmp_path, monkeypatch):
    trainer = make_trainer("PromptSRC", hiershapes_root, str(tmp_path / "o"))
    model = trainer.model
    batch = first_batch(trainer)
    # prompts with no effect: the prompted encoders return the frozen CLIP's features
    monkeypatch.setattr(model, "prompted_text_features", lambda: model.zs_text_features.clone())
    monkeypatch.setattr(model, "encode_images", lambda images, **kw: model.image_encoder(images))
    with torch.no_grad():
        _, terms = trainer.compute_loss(batch["img"], batch["label"])
    for name in ("l1_text", "l1_image", "kl"):
        assert float(terms[name]) == pytest.approx(0.0, abs=1e-6), name


def test_level_kl_is_per_level():
    slices = (slice(0, 2), slice(2, 5))
    weights = torch.tensor([1.0, 1.0])
    teacher = torch.randn(3, 5)
    assert float(level_kl_divergence(teacher, teacher, slices, weights)) == pytest.approx(0.0, abs=1e-7)
    # adding a constant to one level's logits leaves every per-level softmax unchanged
    shifted = teacher.clone()
    shifted[:, 2:] += 7.0
    assert float(level_kl_divergence(shifted, teacher, slices, weights)) == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(3, 5)
    assert float(level_kl_divergence(other, teacher, slices, weights)) > 0


def test_gpa_weights_and_scaling():
    w = gaussian_epoch_weights(20, 15, 1)
    assert sum(w) == pytest.approx(1.0) and max(range(20), key=w.__getitem__) == 14
    assert scaled_gpa_moments(15, 1, 10, 20) == (7.5, 0.5)
    assert scaled_gpa_moments(15, 1, 10, 0) == (15.0, 1.0)
    assert gaussian_epoch_weights(3, 100.0, 1e-3)[-1] == pytest.approx(1.0)  # no 0/0 for a narrow Gaussian


def test_promptsrc_gpa_loads_the_gaussian_average_after_training(hiershapes_root, tmp_path):
    trainer = make_trainer("PromptSRC", hiershapes_root, str(tmp_path / "o"), "OPTIM.MAX_EPOCH", "3",
                           "OPTIM.WARMUP_EPOCH", "0", "OPTIM.LR", "0.05", "TRAINER.PROMPTSRC.GPA_MEAN", "2",
                           "TRAINER.PROMPTSRC.GPA_STD", "1", "TRAINER.PROMPTSRC.GPA_REF_EPOCHS", "0",
                           "TEST.NO_TEST", "True")
    snapshots = []
    run_epoch = trainer.run_epoch

    def recording_run_epoch():
        run_epoch()
        snapshots.append({k: v.detach().clone() for k, v in trainer.model.learner.state_dict().items()})

    trainer.run_epoch = recording_run_epoch
    trainer.train()
    weights = gaussian_epoch_weights(3, 2.0, 1.0)
    assert len(snapshots) == 3
    final = trainer.model.learner.state_dict()
    for key in final:
        expected = sum(w * s[key] for w, s in zip(weights, snapshots))
        torch.testing.assert_close(final[key], expected)
    assert any(not torch.allclose(final[k], snapshots[-1][k]) for k in final), "GPA had no effect"
    # the saved last checkpoint is the aggregate
    saved = torch.load(f"{tmp_path}/o/prompt_learner/model.pth.tar-3", weights_only=False)["state_dict"]
    for key in final:
        torch.testing.assert_close(saved[key], final[key])
