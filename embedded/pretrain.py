"""Contrastive pre-training of the tiny CLIP on HierShapes train captions.

Why: real CLIP weights cannot be downloaded here, yet the methods under study adapt a
*pre-trained* vision-language model. A few minutes of CLIP-style training on the
HierShapes train split gives a model with useful but imperfect zero-shot accuracy at
every level, which prompt tuning can then improve.

Loss: symmetric InfoNCE with a learnable temperature initialised like CLIP
(1/0.07). Each step contrasts a batch of images with every phrase of the small caption
bank (object, shape, family and colour names, each in a random template); every
(image, phrase) pair where the phrase is true of the image is a positive rather than a
false negative. Encoding the whole bank (about 60 short captions) each step costs less
than one sampled caption per image, and every level is trained at every step.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms import functional as TF
from tqdm import tqdm

from ..backbones.openai_clip import clip
from .captions import DEFAULT_TEMPLATES, build_caption_bank, positive_weights
from .hiershapes import load_split

CLIP, Transformer = clip.model.CLIP, clip.model.Transformer

LOGIT_SCALE_MAX = math.log(100.0)


def load_images(paths: list[str], resize_to: int | None = None) -> torch.Tensor:
    """Read images into one uint8 tensor [N, 3, H, W], optionally resized (bicubic) first."""
    arrays = []
    for path in paths:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if resize_to is not None:
                img = img.resize((resize_to, resize_to), Image.BICUBIC)
            arrays.append(np.asarray(img))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def normalize(images_uint8: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    x = images_uint8.float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def augment(images_uint8: torch.Tensor, size: int, scale: tuple[float, float]) -> torch.Tensor:
    """RandomResizedCrop(size, scale) + horizontal flip, per image (global torch RNG)."""
    out = []
    for img in images_uint8:
        top, left, h, w = RandomResizedCrop.get_params(img, list(scale), [3 / 4, 4 / 3])
        crop = TF.resized_crop(img, top, left, h, w, [size, size], antialias=True)
        if torch.rand(()) < 0.5:
            crop = crop.flip(-1)
        out.append(crop)
    return torch.stack(out)


@contextmanager
def _causal_mask_cropped(transformer: Transformer, length: int) -> Iterator[None]:
    saved = [block.attn_mask for block in transformer.resblocks]
    try:
        for block, mask in zip(transformer.resblocks, saved):
            block.attn_mask = None if mask is None else mask[:length, :length]
        yield
    finally:
        for block, mask in zip(transformer.resblocks, saved):
            block.attn_mask = mask


def encode_text_prefix(model: CLIP, tokens: torch.Tensor, length: int) -> torch.Tensor:
    """``model.encode_text(tokens)`` computed on the first ``length`` positions only.

    Exact when every end-of-text token lies before ``length``: under the causal mask the
    padding after it never reaches it. Saves most of the text cost for short captions.
    tokens: LongTensor [B, context_length] -> features [B, embed_dim].
    """
    eot = tokens.argmax(dim=-1)
    if int(eot.max()) >= length:
        raise ValueError(f"a caption has {int(eot.max()) + 1} tokens, more than train_text_length={length}")
    with _causal_mask_cropped(model.transformer, length):
        x = model.token_embedding(tokens[:, :length]) + model.positional_embedding[:length]
        x = model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
    x = model.ln_final(x)
    return x[torch.arange(x.shape[0]), eot] @ model.text_projection


def multi_positive_clip_loss(image_feats: torch.Tensor, text_feats: torch.Tensor, targets: torch.Tensor,
                             logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with several positives per row.

    image_feats [B, D], text_feats [U, D]; targets [B, U] >= 0, zero for negatives,
    each row summing to 1 (image -> text distribution). Text -> image uses the same
    positives, spread evenly over the images each text is true of; texts true of no
    image in the batch are left out of that direction.
    """
    image_feats = F.normalize(image_feats, dim=-1)
    text_feats = F.normalize(text_feats, dim=-1)
    logits = logit_scale.exp() * image_feats @ text_feats.t()
    loss_i2t = -(targets * logits.log_softmax(dim=1)).sum(1).mean()
    positive = (targets > 0).float()
    present = positive.sum(0) > 0
    t2i_targets = positive[:, present] / positive[:, present].sum(0, keepdim=True)
    loss_t2i = -(t2i_targets * logits[:, present].log_softmax(dim=0)).sum(0).mean()
    return 0.5 * (loss_i2t + loss_t2i)


def _param_groups(model: CLIP, weight_decay: float) -> list[dict]:
    """Decay matrices only; embeddings, gains, biases and the temperature are not decayed."""
    no_decay_names = ("token_embedding", "positional_embedding", "class_embedding", "logit_scale")
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.ndim < 2 or any(key in name for key in no_decay_names):
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def pretrain_clip(
    model: CLIP,
    settings: dict,
    preprocess: dict,
    dataset_dir: str,
    max_steps: int | None = None,
    progress: bool = True,
    num_threads: int = 1,
    on_epoch_end: Callable[[int, CLIP], None] | None = None,
) -> dict:
    """Train ``model`` in place on ``dataset_dir``'s train split; returns a small stats dict.

    settings: the "pretraining" section of tiny_clip.json; preprocess: its "preprocess"
    section (mean/std). ``max_steps`` caps the run (for tests). ``on_epoch_end(epoch, model)``
    is called after each epoch (for monitoring); the model is in train mode again afterwards.
    ``num_threads`` defaults to 1: on a shared 2-core machine, 2 intra-op threads were
    measured 3-8x slower per step than 1 whenever other processes used the CPU.
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        return _train(model, settings, preprocess, dataset_dir, max_steps, progress, on_epoch_end)
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    model: CLIP,
    settings: dict,
    preprocess: dict,
    dataset_dir: str,
    max_steps: int | None,
    progress: bool,
    on_epoch_end: Callable[[int, CLIP], None] | None,
) -> dict:
    start = time.time()
    torch.manual_seed(int(settings["torch_seed"]))
    items = load_split(dataset_dir)["train"]
    images = load_images([path for path, _, _ in items])
    labels = torch.tensor([label for _, label, _ in items])
    bank = build_caption_bank(settings.get("templates", DEFAULT_TEMPLATES), model.context_length)
    phrase_ids = torch.arange(len(bank.phrases))
    size = model.visual.input_resolution
    text_length = min(int(settings["train_text_length"]), model.context_length)

    batch_size = min(int(settings["batch_size"]), len(items))
    steps_per_epoch = len(items) // batch_size
    total = int(settings["epochs"]) * steps_per_epoch
    if max_steps is not None:
        total = min(total, max_steps)
    warmup = max(1, int(float(settings["warmup_fraction"]) * total))
    optimizer = torch.optim.AdamW(_param_groups(model, float(settings["weight_decay"])), lr=float(settings["lr"]),
                                  betas=(0.9, 0.98), eps=1e-6)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, total, warmup))

    model.train()
    step, order, losses = 0, torch.empty(0, dtype=torch.long), []
    bar = tqdm(total=total, desc="tiny CLIP", unit="step", disable=not progress, dynamic_ncols=True)
    while step < total:
        if step % steps_per_epoch == 0:
            order = torch.randperm(len(items))
        idx = order[(step % steps_per_epoch) * batch_size:][:batch_size]
        batch_labels = labels[idx]
        pixels = normalize(augment(images[idx], size, tuple(settings["crop_scale"])), preprocess["mean"], preprocess["std"])
        # Every phrase, each worded with a freshly drawn template.
        template_ids = torch.randint(len(bank.templates), (len(bank.phrases),))
        loss = multi_positive_clip_loss(
            model.encode_image(pixels),
            encode_text_prefix(model, bank.tokens[phrase_ids, template_ids], text_length),
            positive_weights(bank, batch_labels, settings["caption_kind_weights"]),
            model.logit_scale,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, LOGIT_SCALE_MAX)
        losses.append(float(loss.detach()))
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if on_epoch_end is not None and step % steps_per_epoch == 0:
            on_epoch_end(step // steps_per_epoch, model)
            model.train()
    bar.close()
    model.eval()
    tail = losses[-max(1, steps_per_epoch):]
    return {"steps": step, "final_loss": sum(tail) / len(tail), "seconds": time.time() - start}
