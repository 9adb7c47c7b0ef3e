"""Where this implementation is faster than the official HGCLIP code, measured in one run.

Each line times the official way and ours on the same inputs, checks that the
results agree, and prints the ratio (official time / our time):

1. prototype attention: a per-image Python loop (official) vs one batched contraction;
2. graph encoders: 8-head GATConv layers whose extra heads are computed and then
   discarded (official, emulated with PyG: each layer runs 8 heads and keeps head 0)
   vs the single-head path that gives the same numbers;
3. evaluation: text features recomputed for every test batch (official) vs computed once
   per evaluation pass (they do not depend on the image);
4. text encoder: all 77 positions vs only the positions up to the last EOT (exact,
   because attention is causal).

Run: ``python -m hgclip.benchmarks.bench_hgclip [--quick]``. Sizes follow ViT-B/16 where the
CPU allows (D=512, 120 nodes as in CIFAR-100's 20+100, 200 tokens per image).
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import torch
import torch.nn.functional as F

from ..backbones.prompted_clip import PromptedTextEncoder
from ..backbones.testing import random_clip
from ..models import GraphEncoder, PrototypeAttention


def best_of(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def report(name: str, official: float, ours: float, max_diff: float) -> None:
    print(f"{name:<44} official {official * 1e3:9.2f} ms   ours {ours * 1e3:9.2f} ms   "
          f"speed-up x{official / ours:6.2f}   max |diff| {max_diff:.1e}")


def bench_attention(batch: int, tokens: int, nodes: int, dim: int, repeats: int) -> None:
    g = torch.Generator().manual_seed(0)
    feats, protos = torch.randn(batch, tokens, dim, generator=g), torch.randn(nodes, dim, generator=g) * 0.1
    attention = PrototypeAttention(alpha=0.5, pooling="mean+max", normalize=False)

    def loop() -> torch.Tensor:
        out = []
        for b in range(batch):
            a = torch.softmax(2 * feats[b] @ protos.t(), dim=-1) @ protos
            out.append(a.mean(0) + a.max(0).values)
        return torch.stack(out)

    with torch.no_grad():
        t_off, y_off = best_of(loop, repeats)
        t_ours, y_ours = best_of(lambda: attention(feats, protos), repeats)
    report(f"prototype attention (B={batch}, T={tokens}, K={nodes})", t_off, t_ours, (y_off - y_ours).abs().max().item())


def bench_graph(nodes: int, dim: int, repeats: int) -> None:
    """The official GNN: DGL-style GATConv with 8 heads per layer, the head axis never reduced.

    Layer 2 sees [K, 8, 2D] and layer 3 [K, 8, 8, 2D], i.e. 8x and 64x the rows, and the
    code keeps [:, 0, 0, 0]. Emulated with PyG on 8 and 64 copies of the graph.
    """
    from torch_geometric.nn import GATConv

    torch.manual_seed(0)
    parents = torch.randint(0, max(nodes // 6, 1), (nodes,))
    loops = torch.arange(nodes)
    edge_index = torch.cat([torch.stack([loops, loops]), torch.stack([parents, loops])], dim=1)

    def copies(n: int) -> torch.Tensor:
        return torch.cat([edge_index + i * nodes for i in range(n)], dim=1)

    heads, hidden = 8, 2 * dim
    official_convs = [GATConv(dim, hidden, heads=heads, add_self_loops=False),
                      GATConv(hidden, hidden, heads=heads, add_self_loops=False),
                      GATConv(hidden, dim, heads=heads, add_self_loops=False)]
    single = GraphEncoder(dim, hidden, dim, 3, "gat", heads=1)
    with torch.no_grad():  # single-head path = head 0 of every official layer
        for big, small in zip(official_convs, single.convs):
            out = small.lin.weight.shape[0]
            small.lin.weight.copy_(big.lin.weight[:out])
            small.att_src.copy_(big.att_src[:, :1])
            small.att_dst.copy_(big.att_dst[:, :1])
            small.bias.copy_(big.bias[:out])
    x = torch.randn(nodes, dim)
    edges8, edges64 = copies(8), copies(64)

    def official() -> torch.Tensor:
        h = F.gelu(official_convs[0](x, edge_index))                       # [K, 8*2D]
        h = h.view(nodes, heads, hidden).transpose(0, 1).reshape(-1, hidden)  # 8 copies
        h = F.gelu(official_convs[1](h, edges8))                           # [8K, 8*2D]
        h = h.view(heads, nodes, heads, hidden).permute(0, 2, 1, 3).reshape(-1, hidden)  # 64 copies
        h = official_convs[2](h, edges64)                                  # [64K, 8*D]
        return h.view(heads, heads, nodes, heads, dim)[0, 0, :, 0]          # keep head 0, 0, 0

    with torch.no_grad():
        t_off, y_off = best_of(official, repeats)
        t_ours, y_ours = best_of(lambda: single(x, edge_index), repeats)
    report(f"graph encoder (K={nodes}, D={dim}, official 8 heads)", t_off, t_ours, (y_off - y_ours).abs().max().item())


def bench_text(nodes: int, repeats: int, width: int, layers: int) -> None:
    from ..backbones.openai_clip import clip

    model = random_clip(embed_dim=512, vision_layers=1, vision_width=64, text_width=width,
                        text_heads=width // 64, text_layers=layers, context_length=77)
    tokens = clip.tokenize([f"a photo of a class {i}." for i in range(nodes)])
    embeddings = model.token_embedding(tokens)
    full, truncated = PromptedTextEncoder(model, truncate=False), PromptedTextEncoder(model, truncate=True)
    with torch.no_grad():
        t_off, y_off = best_of(lambda: full(embeddings, tokens), repeats)
        t_ours, y_ours = best_of(lambda: truncated(embeddings, tokens), repeats)
    report(f"text encoder ({nodes} prompts, width {width}, {layers} layers)", t_off, t_ours,
           (y_off - y_ours).abs().max().item())


def bench_eval_cache(nodes: int, batches: int, repeats: int) -> None:
    """A whole evaluation pass: text features recomputed per batch (official) vs cached once."""
    from ..models.deep_prompt import DeepPromptCLIP

    model = random_clip(embed_dim=256, image_resolution=32, vision_layers=4, vision_width=128, patch_size=8,
                        text_width=256, text_heads=4, text_layers=6, context_length=77)
    names = [f"class {i}" for i in range(nodes)]
    prompted = DeepPromptCLIP(model, names, 4, 4, 4, 4, "a photo of a").eval()
    images = torch.randn(batches, 8, 3, 32, 32)

    def evaluate(cache: bool) -> torch.Tensor:
        prompted.clear_cache()
        outputs = []
        for batch in images:
            if not cache:
                prompted.clear_cache()
            outputs.append(prompted(batch))
        return torch.cat(outputs)

    with torch.no_grad():
        t_off, y_off = best_of(lambda: evaluate(False), repeats)
        t_ours, y_ours = best_of(lambda: evaluate(True), repeats)
    report(f"evaluation pass ({batches} batches, {nodes} nodes)", t_off, t_ours, (y_off - y_ours).abs().max().item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 20 s)")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    repeats = 2 if args.quick else 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    bench_attention(batch=16 if args.quick else 64, tokens=200, nodes=120, dim=512, repeats=repeats)
    bench_graph(nodes=120, dim=512, repeats=repeats)
    bench_text(nodes=120, repeats=repeats, width=256 if args.quick else 512, layers=4 if args.quick else 12)
    bench_eval_cache(nodes=120, batches=10 if args.quick else 20, repeats=repeats)


if __name__ == "__main__":
    main()
