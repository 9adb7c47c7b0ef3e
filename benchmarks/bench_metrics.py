"""Benchmark: what the tree metrics (HCA, hP/hR/hF, MTA, hierarchical distance@5) add to an evaluation pass.

At 50,000 samples x 1,000 nodes (a synthetic 4-level hierarchy, 10/40/150/800 nodes per level),
this times the ``Hierarchical`` evaluator's ``process()`` over every batch plus ``evaluate()``:

* ``without``: ``tree_metrics=False``, i.e. only the metrics the evaluator reported before them
  (per-level top-1/top-5/macro-F1, full path, consistency, severity, distance@1);
* ``with``: the full evaluator (the default), tree cuts included (25 cuts, as ProTeCt).

Two denominators are printed, both measured in this run:

1. the evaluator alone (``without``): the strictest reading, where the new metrics compete with
   a few argmax/top-k calls per batch;
2. a realistic evaluation pass: the same batches produced by a model -- the embedded default's
   tiny CLIP image tower (random weights, 32x32 images) and CLIP's cosine head over 1,000 node
   text features -- plus the evaluator without the new metrics. This is the smallest model the
   project trains; a ViT-B/16 forward costs far more per image.

Logits carry signal (each sample's true path is boosted), so the accuracies are neither 0 nor
100 and every branch of the metrics runs. Usage::

    python -m hgclip.benchmarks.bench_metrics [--samples 50000] [--batch-size 100] [--repeats 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time
from typing import Callable

import torch

from ..evaluation import Hierarchical
from ..hierarchy import Hierarchy

LEVEL_SIZES = (10, 40, 150, 800)  # 1,000 nodes


def synthetic_hierarchy(sizes: tuple[int, ...] = LEVEL_SIZES) -> Hierarchy:
    """A balanced-ish 4-level tree: node j of level l+1 hangs under node j * size_l // size_{l+1}."""
    paths = []
    for leaf in range(sizes[-1]):
        path, index = [], leaf
        for level in range(len(sizes) - 1, -1, -1):
            path.append(f"l{level}n{index}")
            if level:
                index = index * sizes[level - 1] // sizes[level]
        paths.append(tuple(reversed(path)))
    return Hierarchy(tuple(f"level{level}" for level in range(len(sizes))), paths)


def synthetic_batches(h: Hierarchy, samples: int, batch_size: int, seed: int = 0) -> list:
    """(logits [B, num_nodes], leaf labels [B]) batches; the true path's nodes get +2.5."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, samples, batch_size):
        n = min(batch_size, samples - start)
        labels = torch.randint(0, h.num_leaves, (n,), generator=generator)
        logits = torch.randn(n, h.num_nodes, generator=generator)
        logits.scatter_add_(1, h.ancestors_global[labels], torch.full((n, h.num_levels), 2.5))
        batches.append((logits, labels))
    return batches


def evaluator_pass(h: Hierarchy, batches: list, tree_metrics: bool, decoding: str) -> Callable[[], float]:
    def run() -> float:
        evaluator = Hierarchical(None, hierarchy=h, decoding=decoding, tree_metrics=tree_metrics)
        if tree_metrics:
            evaluator.tree_cuts(h)  # sampled once per hierarchy and cached; not part of a pass
        start = time.perf_counter()
        for logits, labels in batches:
            evaluator.process(logits, labels)
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator.evaluate()
        return time.perf_counter() - start

    return run


def model_forward_time(h: Hierarchy, batches: list, seed: int = 0) -> float:
    """Seconds for the tiny CLIP's image tower + cosine head to produce every batch's logits."""
    from ..backbones.testing import random_clip
    from ..embedded.tiny_clip import load_tiny_config

    model_cfg = load_tiny_config()["model"]
    clip = random_clip(
        embed_dim=model_cfg["embed_dim"], image_resolution=model_cfg["image_resolution"],
        vision_layers=model_cfg["vision_layers"], vision_width=model_cfg["vision_width"],
        patch_size=model_cfg["vision_patch_size"], context_length=model_cfg["context_length"],
        text_width=model_cfg["transformer_width"], text_heads=model_cfg["transformer_heads"],
        text_layers=model_cfg["transformer_layers"], seed=seed,
    )
    generator = torch.Generator().manual_seed(seed)
    text = torch.nn.functional.normalize(torch.randn(h.num_nodes, model_cfg["embed_dim"], generator=generator), dim=-1)
    resolution = model_cfg["image_resolution"]
    total = 0.0
    with torch.no_grad():
        for logits, _ in batches:
            images = torch.randn(logits.shape[0], 3, resolution, resolution, generator=generator)
            start = time.perf_counter()
            features = torch.nn.functional.normalize(clip.encode_image(images), dim=-1)
            out = clip.logit_scale.exp() * features @ text.T
            total += time.perf_counter() - start
            assert out.shape == logits.shape
    return total


def best(fn: Callable[[], float], repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=100, help="Dassl's default test batch size")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per setting (the best is kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--decoding", default="independent")
    parser.add_argument("--no-model", action="store_true", help="skip the realistic-pass denominator")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    h = synthetic_hierarchy()
    batches = synthetic_batches(h, args.samples, args.batch_size)
    print(f"{args.samples:,} samples x {h.num_nodes:,} nodes ({h}), batch {args.batch_size}, "
          f"decoding {args.decoding}, {args.threads} thread(s), best of {args.repeats}")
    without = evaluator_pass(h, batches, False, args.decoding)
    with_tree = evaluator_pass(h, batches, True, args.decoding)
    times = {"without": [], "with": []}
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        times["without"].append(without())
        times["with"].append(with_tree())
    t_old, t_new = min(times["without"]), min(times["with"])
    added = t_new - t_old
    print(f"evaluator, existing metrics only : {t_old:8.3f} s")
    print(f"evaluator, with the tree metrics : {t_new:8.3f} s   (+{added:.3f} s)")
    print(f"overhead vs the evaluator alone  : {added / t_old:8.1%}   (denominator: process()+evaluate() "
          f"without the tree metrics)")
    if not args.no_model:
        t_model = model_forward_time(h, batches)
        t_pass = t_model + t_old
        print(f"tiny CLIP forward + cosine head  : {t_model:8.3f} s   (image tower 32x32, 1,000 node features)")
        print(f"overhead vs an evaluation pass   : {added / t_pass:8.1%}   (denominator: model forward + "
              f"evaluator without the tree metrics = {t_pass:.3f} s)")


if __name__ == "__main__":
    main()
