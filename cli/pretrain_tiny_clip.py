#!/usr/bin/env python
"""(Re)build the cached pre-trained tiny CLIP and report its zero-shot accuracy per level.

Usage: python -m hgclip.cli.pretrain_tiny_clip [--force] [--cache-dir DIR] [--data-root DIR]
The cache lives in $HGCLIP_CACHE (default ~/.cache/hgclip); see embedded/tiny_clip.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from ..embedded.hiershapes import ensure_hiershapes
from ..embedded.tiny_clip import CONFIG_PATH, build_tiny_clip, cache_path, default_cache_dir, load_tiny_config
from ..embedded.zeroshot import zero_shot_accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="pre-train again even if the cache file exists")
    parser.add_argument("--cache-dir", default=None, help="cache root (default: $HGCLIP_CACHE or ~/.cache/hgclip)")
    parser.add_argument("--data-root", default=None, help="where HierShapes is generated (default: <cache-dir>/data)")
    parser.add_argument("--config", default=CONFIG_PATH, help="tiny CLIP JSON (default: embedded/tiny_clip.json)")
    args = parser.parse_args(argv)

    config = load_tiny_config(args.config)
    cache_dir = args.cache_dir or default_cache_dir()
    data_root = args.data_root or os.path.join(cache_dir, "data")
    path = cache_path(config, cache_dir)
    print(f"tiny CLIP cache: {path} ({'exists' if os.path.isfile(path) else 'missing'})")

    start = time.time()
    model = build_tiny_clip(pretrained=True, cache_dir=cache_dir, data_root=data_root, config=config, force=args.force)
    print(f"ready in {time.time() - start:.1f} s")
    stats = torch.load(path, map_location="cpu", weights_only=True).get("stats", {})
    if stats:
        print("pre-training stats: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items()))

    dataset_dir = ensure_hiershapes(data_root, seed=int(config["pretraining"]["hiershapes_seed"]))
    accuracy = zero_shot_accuracy(model, dataset_dir, config["preprocess"], split="test")
    print("zero-shot top-1 on HierShapes test ('a photo of a {}.'): " + ", ".join(f"{k} {v:.1f}%" for k, v in accuracy.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
