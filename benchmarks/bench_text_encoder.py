"""Benchmark: PromptedTextEncoder with and without EOT truncation.

HGCLIP encodes one prompt per hierarchy node at every training step. The
prompts are short (~10 real tokens) but CLIP's context is 77 tokens, and
attention is causal, so running only up to the last EOT gives the same
features for a fraction of the work. This script times K node prompts with
``truncate=False`` vs ``truncate=True`` on a randomly initialised text tower of
ViT-B/16's size (width 512, 8 heads, 12 blocks, context 77, vocab 49408; the
image tower is a tiny stand-in because it is not used), with HGCLIP's deep
prompts (4 tokens, depth 9), for inference and for a forward+backward pass
into the prompts, and checks the largest absolute difference.

Usage::

    python -m hgclip.benchmarks.bench_text_encoder [--prompts 120] [--repeats 1] [--threads 2]
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from ..backbones import PromptedTextEncoder, token_embedding
from ..backbones.testing import random_clip

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "grey", "brown"]
THINGS = ["circle", "square", "triangle", "ring", "star", "cross", "hexagon", "oval", "arrow", "heart", "moon", "wave"]


def node_prompts(k: int) -> list:
    """K distinct prompts of the HGCLIP form 'a photo of a <node>.' (about 8-11 tokens with SOS/EOT)."""
    names = [f"{c} {t}" for t in THINGS for c in COLOURS] + THINGS + COLOURS
    return [f"a photo of a {names[i % len(names)]}." for i in range(k)]


def best_time(fn: Callable[[], torch.Tensor], repeats: int) -> tuple:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=120, help="number of node prompts K")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per setting (best is reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--n-ctx", type=int, default=4)
    parser.add_argument("--depth", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from ..backbones.openai_clip import clip

    model = random_clip(
        embed_dim=512, image_resolution=32, vision_layers=1, vision_width=64, patch_size=16,
        context_length=77, vocab_size=49408, text_width=512, text_heads=8, text_layers=12, seed=0,
    )
    for p in model.parameters():
        p.requires_grad_(False)
    tokens = clip.tokenize(node_prompts(args.prompts))
    eot = tokens.argmax(-1)
    embeddings = token_embedding(model, tokens)
    gen = torch.Generator().manual_seed(0)
    ctx = (torch.randn(args.n_ctx, 512, generator=gen) * 0.02).requires_grad_(True)
    deep = (torch.randn(args.depth - 1, args.n_ctx, 512, generator=gen) * 0.02).requires_grad_(True)
    encoder = PromptedTextEncoder(model)

    def prompts_in():
        # [SOS][ctx x n_ctx][words...]: the learnable context replaces "a photo of a"
        k = args.prompts
        return torch.cat([embeddings[:, :1], ctx.expand(k, -1, -1), embeddings[:, 1 + args.n_ctx:]], dim=1)

    def infer(truncate: bool) -> torch.Tensor:
        with torch.no_grad():
            return encoder(prompts_in(), tokens, deep, truncate=truncate)

    def train_step(truncate: bool) -> torch.Tensor:
        ctx.grad = deep.grad = None
        out = encoder(prompts_in(), tokens, deep, truncate=truncate)
        out.pow(2).sum().backward()
        return torch.cat([ctx.grad.flatten(), deep.grad.flatten()])

    print(f"text tower: random-init ViT-B/16 size (width 512, 8 heads, 12 blocks, context 77); "
          f"K={args.prompts} prompts, EOT at {int(eot.min())}..{int(eot.max())}, "
          f"deep prompts n_ctx={args.n_ctx} depth={args.depth}; {torch.get_num_threads()} CPU threads")
    infer(True)  # warm-up (allocator, kernels)
    for label, fn in (("inference (no grad)", infer), ("forward+backward", train_step)):
        t_full, full = best_time(lambda fn=fn: fn(False), args.repeats)
        t_fast, fast = best_time(lambda fn=fn: fn(True), args.repeats)
        diff = (full - fast).abs().max().item()
        scale = full.abs().max().item()
        print(f"{label:20s} truncate=False {t_full * 1000:8.1f} ms | truncate=True {t_fast * 1000:7.1f} ms | "
              f"speed-up x{t_full / t_fast:5.1f} | max|diff| {diff:.1e} (relative to max|value|: {diff / scale:.1e})")


if __name__ == "__main__":
    main()
