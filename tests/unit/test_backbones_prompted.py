"""Deep-prompt encoders on the unmodified CLIP: equivalence, truncation, prompt semantics, gradients."""
import clip
import pytest
import torch

from hgclip.backbones import (
    PromptedTextEncoder,
    PromptedVisionEncoder,
    context_length,
    encode_text_plain,
    token_embedding,
)
from hgclip.backbones.prompted_clip import _run_block
from hgclip.backbones.testing import random_clip

N_CTX = 4
NAMES = ["red circle", "blue square with a very long name of many words", "triangle", "x"]


@pytest.fixture(scope="module")
def model77():
    return random_clip(context_length=77, text_layers=4, text_heads=2, vision_layers=4, seed=1)


@pytest.fixture(scope="module")
def model32():
    return random_clip(context_length=32, text_layers=3, vision_width=128, seed=2)


def _tokens(model, prompts=None):
    texts = prompts or [f"a photo of a {n}." for n in NAMES]
    return clip.tokenize(texts, context_length=context_length(model))


def _images(model, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    res = model.visual.input_resolution
    return torch.randn(batch, 3, res, res, generator=g)


def _randn(*shape, seed=0, std=0.5):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * std


def _record_block_inputs(blocks):
    """Record each block's input (LND) through a pre-hook on its ln_1 (called on both code paths)."""
    recorded, handles = [], []
    for block in blocks:
        handles.append(block.ln_1.register_forward_pre_hook(lambda mod, args: recorded.append(args[0].detach())))
    return recorded, handles


# ----------------------------------------------------------------------------- text


@pytest.mark.parametrize("name", ["model77", "model32"])
@pytest.mark.parametrize("truncate", [True, False])
def test_text_no_prompt_equals_encode_text(name, truncate, request):
    model = request.getfixturevalue(name)
    tokens = _tokens(model)
    with torch.no_grad():
        ref = model.encode_text(tokens)
        out = PromptedTextEncoder(model, truncate=truncate)(token_embedding(model, tokens), tokens)
        plain = encode_text_plain(model, tokens)
    assert out.shape == (len(NAMES), model.text_projection.shape[1])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(plain, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("per_sample", [False, True])
def test_text_truncation_is_exact_with_deep_prompts(model77, per_sample):
    tokens = _tokens(model77)
    emb = token_embedding(model77, tokens)
    width = emb.shape[-1]
    shape = (len(NAMES), N_CTX, width) if per_sample else (N_CTX, width)
    deep = [_randn(*shape, seed=i) for i in range(2)]
    enc = PromptedTextEncoder(model77)
    with torch.no_grad():
        fast = enc(emb, tokens, deep, truncate=True)
        full = enc(emb, tokens, deep, truncate=False)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)


def test_text_stacked_and_list_deep_prompts_agree(model32):
    tokens = _tokens(model32)
    emb = token_embedding(model32, tokens)
    stacked = _randn(2, N_CTX, emb.shape[-1], seed=3)
    enc = PromptedTextEncoder(model32)
    with torch.no_grad():
        torch.testing.assert_close(enc(emb, tokens, stacked), enc(emb, tokens, list(stacked.unbind(0))))
        # An empty set of deep prompts is the same as none.
        torch.testing.assert_close(enc(emb, tokens, []), enc(emb, tokens))


@pytest.mark.parametrize("truncate", [True, False])
def test_text_deep_prompt_replacement_semantics(model77, truncate):
    """Block i (1 <= i < depth) sees deep[i-1] at positions 1..n_ctx; later blocks carry outputs through."""
    tokens = _tokens(model77)
    emb = token_embedding(model77, tokens)
    depth = 3  # blocks 1, 2 get prompts; block 3 does not
    deep = _randn(depth - 1, N_CTX, emb.shape[-1], seed=5)
    blocks = list(model77.transformer.resblocks)
    recorded, handles = _record_block_inputs(blocks)
    try:
        with torch.no_grad():
            PromptedTextEncoder(model77, truncate=truncate)(emb, tokens, deep)
    finally:
        for h in handles:
            h.remove()
    assert len(recorded) == len(blocks)
    if truncate:
        assert recorded[0].shape[0] == int(tokens.argmax(-1).max()) + 1 < 77
    else:
        assert recorded[0].shape[0] == 77
    # Block 0: embeddings + positional embedding, no replacement.
    n = recorded[0].shape[0]
    ref0 = (emb[:, :n] + model77.positional_embedding[:n]).permute(1, 0, 2)
    torch.testing.assert_close(recorded[0], ref0)
    for i in range(1, len(blocks)):
        with torch.no_grad():
            carried = _run_block(blocks[i - 1], recorded[i - 1])
        if i < depth:
            for j in range(len(NAMES)):
                torch.testing.assert_close(recorded[i][1 : 1 + N_CTX, j], deep[i - 1])
            # SOS and positions after the prompt are carried through.
            torch.testing.assert_close(recorded[i][:1], carried[:1], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(recorded[i][1 + N_CTX :], carried[1 + N_CTX :], atol=1e-5, rtol=1e-5)
        else:
            torch.testing.assert_close(recorded[i], carried, atol=1e-5, rtol=1e-5)


def test_text_prompts_change_output_and_per_sample_entries(model32):
    tokens = _tokens(model32)
    emb = token_embedding(model32, tokens)
    enc = PromptedTextEncoder(model32)
    shared = _randn(N_CTX, emb.shape[-1], seed=7)
    with torch.no_grad():
        base = enc(emb, tokens)
        prompted = enc(emb, tokens, [shared])
        per_sample = enc(emb, tokens, [shared.expand(len(NAMES), -1, -1)])
    assert (prompted - base).abs().max() > 1e-3
    torch.testing.assert_close(per_sample, prompted)


def test_text_gradients_reach_prompts_only(model32):
    for p in model32.parameters():
        p.requires_grad_(False)
    tokens = _tokens(model32)
    fixed = token_embedding(model32, tokens)
    ctx = _randn(N_CTX, fixed.shape[-1], seed=8).requires_grad_(True)
    deep = _randn(2, N_CTX, fixed.shape[-1], seed=9).requires_grad_(True)
    emb = torch.cat([fixed[:, :1], ctx.expand(len(NAMES), -1, -1), fixed[:, 1 + N_CTX :]], dim=1)
    out = PromptedTextEncoder(model32)(emb, tokens, deep)
    out.pow(2).sum().backward()
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    assert deep.grad is not None and (deep.grad.flatten(1).abs().sum(1) > 0).all()
    assert all(p.grad is None for p in model32.parameters())


def test_text_rejects_bad_inputs(model32):
    tokens = _tokens(model32)
    emb = token_embedding(model32, tokens)
    enc = PromptedTextEncoder(model32)
    too_deep = _randn(len(model32.transformer.resblocks), N_CTX, emb.shape[-1])
    with pytest.raises(ValueError, match="deep prompt layers"):
        enc(emb, tokens, too_deep)
    with pytest.raises(ValueError, match="tokenized"):
        enc(emb, tokens[:2])
    with pytest.raises(ValueError, match=r"deep_prompts\[0\]"):
        enc(emb, tokens, [_randn(N_CTX, emb.shape[-1] + 1)])


# ----------------------------------------------------------------------------- vision


@pytest.mark.parametrize("name", ["model77", "model32"])
def test_vision_no_prompt_equals_encode_image(name, request):
    model = request.getfixturevalue(name)
    images = _images(model)
    with torch.no_grad():
        torch.testing.assert_close(PromptedVisionEncoder(model)(images), model.encode_image(images), atol=1e-5, rtol=1e-5)


def test_vision_deep_prompt_replacement_semantics(model77):
    """Block i (1 <= i < depth) sees deep[i-1] as its last n_ctx tokens; later blocks carry outputs through."""
    images = _images(model77, batch=2)
    width = model77.visual.class_embedding.shape[0]
    prompts = _randn(N_CTX, width, seed=10)
    depth = 3
    deep = _randn(depth - 1, N_CTX, width, seed=11)
    blocks = list(model77.visual.transformer.resblocks)
    recorded, handles = _record_block_inputs(blocks)
    try:
        with torch.no_grad():
            PromptedVisionEncoder(model77)(images, prompts, deep)
    finally:
        for h in handles:
            h.remove()
    num_patches = model77.visual.positional_embedding.shape[0] - 1
    assert recorded[0].shape[0] == 1 + num_patches + N_CTX
    # Block 0: ln_pre of [CLS + patches + pos, prompts].
    torch.testing.assert_close(recorded[0][-N_CTX:, 0], model77.visual.ln_pre(prompts))
    for i in range(1, len(blocks)):
        with torch.no_grad():
            carried = blocks[i - 1](recorded[i - 1])
        if i < depth:
            for b in range(images.shape[0]):
                torch.testing.assert_close(recorded[i][-N_CTX:, b], deep[i - 1])
            torch.testing.assert_close(recorded[i][:-N_CTX], carried[:-N_CTX])
        else:
            torch.testing.assert_close(recorded[i], carried)


def test_vision_prompts_change_output(model32):
    images = _images(model32)
    width = model32.visual.class_embedding.shape[0]
    enc = PromptedVisionEncoder(model32)
    prompts = _randn(N_CTX, width, seed=12)
    with torch.no_grad():
        base = enc(images)
        shallow = enc(images, prompts)
        deep = enc(images, prompts, _randn(2, N_CTX, width, seed=13))
    assert (shallow - base).abs().max() > 1e-3
    assert (deep - shallow).abs().max() > 1e-3


def test_vision_per_sample_prompts(model32):
    images = _images(model32, batch=3)
    width = model32.visual.class_embedding.shape[0]
    prompts = _randn(3, N_CTX, width, seed=14)
    deep = [_randn(3, N_CTX, width, seed=15), _randn(N_CTX, width, seed=16)]
    enc = PromptedVisionEncoder(model32)
    with torch.no_grad():
        batched = enc(images, prompts, deep)
        for b in range(3):
            single = enc(images[b : b + 1], prompts[b], [deep[0][b], deep[1]])
            torch.testing.assert_close(batched[b : b + 1], single, atol=1e-5, rtol=1e-5)


def test_vision_return_tokens_shapes(model32):
    images = _images(model32, batch=2)
    width = model32.visual.class_embedding.shape[0]
    dim = model32.visual.proj.shape[1]
    grid = (model32.visual.input_resolution // model32.visual.conv1.kernel_size[0]) ** 2
    enc = PromptedVisionEncoder(model32)
    prompts = _randn(N_CTX, width, seed=17)
    with torch.no_grad():
        g, tokens = enc(images, prompts, return_tokens=True)
        g2, patches = enc(images, prompts, return_tokens=True, include_prompt_tokens=False)
        g3, plain_tokens = enc(images, return_tokens=True)
    assert g.shape == (2, dim) and tokens.shape == (2, grid + N_CTX, dim)
    assert patches.shape == (2, grid, dim)
    torch.testing.assert_close(patches, tokens[:, :grid])
    torch.testing.assert_close(g2, g)
    assert plain_tokens.shape == (2, grid, dim)
    torch.testing.assert_close(g3, model32.encode_image(images), atol=1e-5, rtol=1e-5)


def test_vision_gradients_reach_prompts_only(model32):
    for p in model32.parameters():
        p.requires_grad_(False)
    width = model32.visual.class_embedding.shape[0]
    prompts = _randn(N_CTX, width, seed=18).requires_grad_(True)
    deep = _randn(2, N_CTX, width, seed=19).requires_grad_(True)
    g, tokens = PromptedVisionEncoder(model32)(_images(model32), prompts, deep, return_tokens=True)
    (g.pow(2).sum() + tokens.pow(2).sum()).backward()
    assert prompts.grad is not None and prompts.grad.abs().sum() > 0
    assert (deep.grad.flatten(1).abs().sum(1) > 0).all()
    assert all(p.grad is None for p in model32.parameters())


def test_vision_rejects_bad_inputs(model32):
    enc = PromptedVisionEncoder(model32)
    width = model32.visual.class_embedding.shape[0]
    images = _images(model32, batch=1)
    with pytest.raises(ValueError, match="input prompts"):
        enc(images, None, [_randn(N_CTX, width)])
    with pytest.raises(ValueError, match="images must be"):
        enc(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="prompts"):
        enc(images, _randn(2, N_CTX, width))  # batch 2 prompts for 1 image


def test_encoders_run_in_the_model_dtype():
    """A CLIP whose conv/linear/attention weights are low precision (as clip's convert_weights
    does with fp16; bf16 here because fp16 convs do not run on CPU) gets inputs and prompts cast."""
    model = random_clip(context_length=32, text_layers=2, vision_layers=2, seed=3)
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.to(torch.bfloat16)
        if isinstance(module, torch.nn.MultiheadAttention):
            module.in_proj_weight.data = module.in_proj_weight.data.bfloat16()
            module.in_proj_bias.data = module.in_proj_bias.data.bfloat16()
    model.text_projection.data = model.text_projection.data.bfloat16()
    model.visual.proj.data = model.visual.proj.data.bfloat16()
    tokens = _tokens(model)
    images = _images(model)
    with torch.no_grad():
        text = PromptedTextEncoder(model)(token_embedding(model, tokens), tokens, [_randn(N_CTX, 64)])
        image = PromptedVisionEncoder(model)(images, _randn(N_CTX, 64), [_randn(N_CTX, 64)])
        plain_text = encode_text_plain(model, tokens)
        plain_image = PromptedVisionEncoder(model)(images)
        ref_text, ref_image = model.encode_text(tokens), model.encode_image(images)
    assert text.dtype == image.dtype == torch.bfloat16
    torch.testing.assert_close(plain_text, ref_text, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(plain_image, ref_image)
