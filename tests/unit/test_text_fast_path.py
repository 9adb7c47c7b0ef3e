"""The fast text path (shared prefix once + length-packed suffixes) keeps the outputs and the gradients.

Encoder level: against the plain truncated path and the full-context path, with
deep prompts, per-prompt deep prompts, groups (CoCoOp), class-specific context and
short prompts. Model level: every trainer that uses the prompted text encoder,
built as train.py builds it, fast vs plain: loss, every learner gradient, logits.
"""
from __future__ import annotations

import clip
import pytest
import torch
import torch.nn.functional as F
from trainer_helpers import first_batch, make_trainer

import hgclip.backbones.prompted_clip as prompted_clip
from hgclip.backbones import PromptedTextEncoder, context_length, token_embedding
from hgclip.backbones.testing import random_clip
from hgclip.backbones.text_fast_path import pack_layout, shared_prefix_length

N_CTX = 4
NAMES = ["red circle", "blue square with a very long name of many words", "triangle", "x", "apple pie", "a"]
TOL = dict(atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def model():
    return random_clip(context_length=77, text_layers=4, text_heads=2, vision_layers=2, seed=1).requires_grad_(False)


def _randn(*shape, seed=0, std=0.1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * std


def _prompts(model, names=NAMES):
    tokens = clip.tokenize([f"a photo of a {n}." for n in names], context_length=context_length(model))
    return tokens, token_embedding(model, tokens)


def _loss(features, seed=0):
    """A loss on normalised features with a fixed random readout (the scale the models train at)."""
    return (F.normalize(features.float(), dim=-1) * _randn(*features.shape, seed=seed, std=1.0)).sum()


def _run(encoder, build, params, **kwargs):
    """Features and the gradients of ``params`` for prompts built by ``build()``."""
    for p in params:
        p.grad = None
    out = encoder(*build(), **kwargs)
    _loss(out).backward()
    return out.detach(), [p.grad.clone() for p in params]


def _assert_same(a, b):
    (fa, ga), (fb, gb) = a, b
    torch.testing.assert_close(fa, fb, **TOL)
    assert len(ga) == len(gb)
    for x, y in zip(ga, gb):
        assert x.abs().max() > 0  # the comparison is not vacuous
        torch.testing.assert_close(x, y, **TOL)


# ----------------------------------------------------------------------------- prefix rules


def test_shared_prefix_length_rules(model):
    tokens, emb = _prompts(model)
    eot = tokens.argmax(-1)[None]
    emb = emb[None]
    # no gradient: the equal leading positions (SOS + "a photo of a"), whatever the caller says
    assert shared_prefix_length(emb, eot, [], None) == 5
    assert shared_prefix_length(emb, eot, [], 3) == 3
    assert shared_prefix_length(emb, eot, [], 50) == 5
    # gradients on and nothing declared: equal values do not prove a broadcast -> nothing shared
    assert shared_prefix_length(emb.clone().requires_grad_(True), eot, [], None) == 0
    assert shared_prefix_length(emb.clone().requires_grad_(True), eot, [], 5) == 5
    # never past the earliest EOT (identical prompts share everything else)
    same = emb[:, :1].expand(-1, 3, -1, -1)
    assert shared_prefix_length(same, eot[:, :1].expand(-1, 3), [], None) == int(eot[0, 0])
    # per-prompt deep prompts that differ: only SOS is common
    deep = _randn(emb.shape[1], N_CTX, emb.shape[-1])
    assert shared_prefix_length(emb, eot, [deep], None) == 1
    assert shared_prefix_length(emb, eot, [deep[:1].expand_as(deep)], None) == 5
    # groups: shared within each group, not across groups
    shifted = torch.cat([emb, emb + 1.0])
    assert shared_prefix_length(shifted, eot.expand(2, -1), [], None) == 5


def test_pack_layout_indices():
    eot = torch.tensor([[6, 9, 7]])
    layout = pack_layout(eot, prefix=5)
    assert layout.lengths.tolist() == [2, 5, 3] and layout.max_len == 5
    assert layout.num_tokens == 5 + 10  # the prefix once, then every prompt's own positions
    assert layout.pos.tolist() == [0, 1, 2, 3, 4] + [5, 6, 5, 6, 7, 8, 9, 5, 6, 7]
    assert layout.pos[layout.last].tolist() == [6, 9, 7]
    assert layout.source[layout.last].tolist() == [0, 1, 2]
    # attention: the prompts by length (0: 2, 2: 3, 1: 5), each [shared prefix rows | its own rows], no padding
    assert layout.buckets == ((1, 7), (1, 8), (1, 10))
    assert layout.slot_rows.tolist() == [0, 1, 2, 3, 4, 5, 6] + [0, 1, 2, 3, 4, 12, 13, 14] + [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]
    assert layout.slot_rows[layout.row_slots].tolist() == list(range(15))  # every row reads back its own slot
    equal = pack_layout(torch.tensor([[7, 6, 7, 6]]), prefix=5)
    assert equal.buckets == ((2, 7), (2, 8))  # one attention call per distinct length
    assert equal.slot_rows[equal.row_slots].tolist() == list(range(equal.num_tokens))
    two_groups = pack_layout(torch.tensor([[6, 7], [6, 8]]), prefix=5)
    assert two_groups.source[:10].tolist() == [0] * 5 + [2] * 5  # each group's prefix is read from its first prompt
    assert two_groups.slot_rows[two_groups.row_slots].tolist() == list(range(two_groups.num_tokens))
    assert two_groups.slot_rows[7:12].tolist() == [5, 6, 7, 8, 9]  # prompt 2 (group 1, length 2) sees group 1's prefix
    padded = pack_layout(eot, prefix=5, pack=False)
    assert padded.lengths.tolist() == [5, 5, 5] and padded.buckets == ((3, 10),)
    assert padded.pos[padded.last].tolist() == [6, 9, 7]


# ----------------------------------------------------------------------------- encoder level


@pytest.mark.parametrize("share_prefix,pack", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("declared", [5, 3, 1, None])
def test_fast_matches_plain_features_and_gradients(model, share_prefix, pack, declared):
    tokens, emb = _prompts(model)
    width = emb.shape[-1]
    ctx = _randn(N_CTX, width, seed=1).requires_grad_(True)
    deep = _randn(3, N_CTX, width, seed=2).requires_grad_(True)

    def build():
        prompts = torch.cat([emb[:, :1], ctx.expand(len(NAMES), -1, -1), emb[:, 1 + N_CTX:]], dim=1)
        return prompts, tokens, deep

    plain = _run(PromptedTextEncoder(model), build, [ctx, deep])
    full = _run(PromptedTextEncoder(model, truncate=False), build, [ctx, deep])
    fast_encoder = PromptedTextEncoder(model, fast=True, share_prefix=share_prefix, pack=pack)
    fast = _run(fast_encoder, build, [ctx, deep], shared_prefix=declared)
    _assert_same(fast, plain)
    _assert_same(fast, full)


def test_fast_handles_per_prompt_and_ragged_deep_prompts_and_short_prompts(model):
    """Per-prompt deep prompts, layers with different prompt lengths, and a prompt whose EOT is inside the
    deep-prompt positions (its later positions never influence its EOT)."""
    names = ["a", "b c", "long " * 6]
    tokens = clip.tokenize(names, context_length=77)  # "[SOS] a [EOT]": EOT at 2 < 1 + n_ctx
    emb = token_embedding(model, tokens)
    width = emb.shape[-1]
    deep = [_randn(len(names), N_CTX, width, seed=3).requires_grad_(True),
            _randn(2, width, seed=4).requires_grad_(True), _randn(N_CTX, width, seed=5).requires_grad_(True)]
    build = lambda: (emb, tokens, deep)  # noqa: E731
    plain = _run(PromptedTextEncoder(model), build, deep)
    for declared in (None, 1, 2):
        _assert_same(_run(PromptedTextEncoder(model, fast=True), build, deep, shared_prefix=declared), plain)


def test_class_specific_context_is_never_shared(model):
    """CSC: one context per class, identical at initialisation. Sharing it would send every class's gradient
    to the first class; with the learner's declaration (SOS only) the gradients match the plain path."""
    tokens, emb = _prompts(model)
    ctx = _randn(N_CTX, emb.shape[-1], seed=6).repeat(len(NAMES), 1, 1).requires_grad_(True)  # equal rows

    def build():
        return torch.cat([emb[:, :1], ctx, emb[:, 1 + N_CTX:]], dim=1), tokens

    plain = _run(PromptedTextEncoder(model), build, [ctx])
    _assert_same(_run(PromptedTextEncoder(model, fast=True), build, [ctx], shared_prefix=1), plain)
    _assert_same(_run(PromptedTextEncoder(model, fast=True), build, [ctx]), plain)  # nothing declared: no sharing
    wrong = _run(PromptedTextEncoder(model, fast=True), build, [ctx], shared_prefix=5)  # a false declaration
    torch.testing.assert_close(wrong[0], plain[0], **TOL)  # same features ...
    assert (wrong[1][0] - plain[1][0]).abs().max() > 1e-3  # ... but the per-class gradients are wrong


@pytest.mark.parametrize("grouped_tokens", [False, True])
def test_groups_share_a_prefix_per_group(model, grouped_tokens):
    """CoCoOp: each image shifts the context; its prompts share that image's prefix only."""
    tokens, emb = _prompts(model)
    width = emb.shape[-1]
    ctx = _randn(N_CTX, width, seed=7).requires_grad_(True)
    shift = _randn(3, width, seed=8).requires_grad_(True)
    k = len(NAMES)

    def build():
        shifted = ctx[None, None] + shift[:, None, None, :]  # [G, 1, n, d]
        prompts = torch.cat([emb[None, :, :1].expand(3, -1, -1, -1), shifted.expand(-1, k, -1, -1),
                             emb[None, :, 1 + N_CTX:].expand(3, -1, -1, -1)], dim=2)
        return prompts, (tokens[None].expand(3, -1, -1) if grouped_tokens else tokens)

    def build_flat():
        prompts, _ = build()
        return prompts.flatten(0, 1), tokens.repeat(3, 1)

    recorded = []
    original = prompted_clip.encode_packed

    def spy(blocks, embeddings, positional, deep, layout):
        recorded.append((layout.groups, layout.prefix))
        return original(blocks, embeddings, positional, deep, layout)

    plain = _run(PromptedTextEncoder(model), build_flat, [ctx, shift])
    prompted_clip.encode_packed = spy
    try:
        fast = _run(PromptedTextEncoder(model, fast=True), build, [ctx, shift], shared_prefix=1 + N_CTX)
    finally:
        prompted_clip.encode_packed = original
    assert recorded == [(3, 1 + N_CTX)]
    assert fast[0].shape == (3, k, model.text_projection.shape[1])
    _assert_same((fast[0].flatten(0, 1), fast[1]), plain)
    # the grouped input on the plain path is the flat result reshaped
    with torch.no_grad():
        grouped_plain = PromptedTextEncoder(model)(*build())
    torch.testing.assert_close(grouped_plain.flatten(0, 1), plain[0], **TOL)


def test_fast_path_without_gradients_and_in_low_precision(model):
    tokens, emb = _prompts(model)
    with torch.inference_mode():
        torch.testing.assert_close(PromptedTextEncoder(model, fast=True)(emb, tokens), model.encode_text(tokens), **TOL)
    half = random_clip(context_length=77, text_layers=2, vision_layers=1, seed=3)
    for module in half.transformer.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
        if isinstance(module, torch.nn.MultiheadAttention):
            module.in_proj_weight.data = module.in_proj_weight.data.bfloat16()
            module.in_proj_bias.data = module.in_proj_bias.data.bfloat16()
    half.text_projection.data = half.text_projection.data.bfloat16()
    tokens, emb = _prompts(half)
    with torch.no_grad():
        fast = PromptedTextEncoder(half, fast=True)(emb, tokens, [_randn(N_CTX, 64)])
        plain = PromptedTextEncoder(half)(emb, tokens, [_randn(N_CTX, 64)])
    assert fast.dtype == torch.bfloat16
    torch.testing.assert_close(fast.float(), plain.float(), atol=3e-2, rtol=3e-2)


def test_fast_path_under_cpu_bf16_autocast(model):
    """PREC bf16 (autocast on the CPU): the fast path runs and stays close to the plain path; grads flow."""
    tokens, emb = _prompts(model)
    ctx = _randn(N_CTX, emb.shape[-1], seed=9).requires_grad_(True)

    def build():
        return torch.cat([emb[:, :1], ctx.expand(len(NAMES), -1, -1), emb[:, 1 + N_CTX:]], dim=1), tokens

    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = _run(PromptedTextEncoder(model, fast=True), build, [ctx], shared_prefix=5)
        plain = _run(PromptedTextEncoder(model), build, [ctx])
    torch.testing.assert_close(fast[0].float(), plain[0].float(), atol=5e-2, rtol=5e-2)
    assert fast[1][0].abs().max() > 0


def test_fast_path_rejects_what_it_cannot_run(model):
    import copy

    broken = copy.deepcopy(model)
    broken.transformer.resblocks[1].attn_mask = None
    with pytest.raises(ValueError, match="block 1 has no attention mask"):
        PromptedTextEncoder(broken, fast=True)
    plain_only = PromptedTextEncoder(broken)  # the plain path still runs it
    tokens, emb = _prompts(broken)
    with pytest.raises(ValueError, match="fast=True"):
        plain_only(emb, tokens, fast=True)
    with pytest.raises(ValueError, match="tokenized must be"):
        PromptedTextEncoder(model, fast=True)(emb[None].expand(2, -1, -1, -1), tokens[:3])


# ----------------------------------------------------------------------------- every trainer's model

#: (trainer, options, expected shared prefix): every model that runs the prompted text encoder.
TEXT_MODELS = [
    ("CoOp", (), 5),
    ("CoOp", ("TRAINER.COOP.CSC", "True"), 1),  # class-specific context: SOS only
    ("CoOp", ("TRAINER.COOP.CTX_INIT", "", "TRAINER.COOP.N_CTX", "3"), 4),  # random context "X X X"
    ("CoCoOp", (), 5),
    ("KgCoOp", (), 5),
    ("MaPLe", (), 5),  # 2 learned tokens + the fixed words "of a"
    ("IVLP", (), 5),
    ("PromptSRC", (), 5),
    ("HGCLIP", (), 5),
    ("HGCLIP", ("TRAINER.HGCLIP.MODE", "official"), 5),
]


def _loss_grads_logits(trainer, batch):
    images, labels = trainer.parse_batch_train(batch)
    learner = trainer.model.learner
    trainer.set_model_mode("train")
    learner.zero_grad(set_to_none=True)
    loss, _ = trainer.compute_loss(images, labels)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in learner.named_parameters() if p.grad is not None}
    trainer.set_model_mode("eval")
    with torch.no_grad():
        logits = trainer.model_inference(images)
    return loss.detach(), grads, logits


@pytest.mark.parametrize("name,opts,prefix", TEXT_MODELS, ids=lambda v: v if isinstance(v, str) else None)
def test_every_model_fast_equals_plain(name, opts, prefix, hiershapes_root, tmp_path, monkeypatch):
    trainer = make_trainer(name, hiershapes_root, str(tmp_path / "out"), *opts)
    trainer.checkpointer.ensure_artifacts()  # HGCLIP builds its prototypes before its first step
    batch = first_batch(trainer)
    batch = {k: v[:6] for k, v in batch.items()} if name == "CoCoOp" else batch  # CoCoOp: B x K prompts
    encoder = trainer.model.text_encoder
    assert encoder.fast
    seen = []
    original = prompted_clip.encode_packed

    def spy(blocks, embeddings, positional, deep, layout):
        seen.append((layout.groups, layout.prefix))
        return original(blocks, embeddings, positional, deep, layout)

    monkeypatch.setattr(prompted_clip, "encode_packed", spy)
    fast = _loss_grads_logits(trainer, batch)
    monkeypatch.setattr(prompted_clip, "encode_packed", original)
    assert seen and {p for _, p in seen} == {prefix}
    if name == "CoCoOp":
        assert {g for g, _ in seen} == {batch["img"].shape[0]}  # one prefix per image
    encoder.fast = False
    plain = _loss_grads_logits(trainer, batch)
    torch.testing.assert_close(fast[0], plain[0], **TOL)
    assert fast[1].keys() == plain[1].keys() and fast[1]
    for key in plain[1]:  # 1e-5, relative to the gradient's size where it exceeds 1 (official mode: 100x logits)
        scale = max(1.0, float(plain[1][key].abs().max()))
        diff = float((fast[1][key] - plain[1][key]).abs().max())
        assert diff <= 1e-5 * scale, f"{key}: max |diff| {diff:.2e} for gradients up to {scale:.2f}"
    assert any(g.abs().max() > 0 for k, g in plain[1].items() if "text_prompts" in k)
    torch.testing.assert_close(fast[2], plain[2], **TOL)
