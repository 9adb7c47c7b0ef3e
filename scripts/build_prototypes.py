"""Build (or load from the cache) HGCLIP's node prototypes for a configuration, and show them.

Takes train.py's arguments, so the prototypes are exactly those a run would use:

    python scripts/build_prototypes.py --root data --seed 1 \
        --dataset-config-file configs/datasets/hiershapes.yaml \
        --config-file configs/trainers/HGCLIP/tiny_hiershapes.yaml DATASET.NUM_SHOTS 16
"""
from __future__ import annotations

import os.path as osp
import sys
from typing import Optional, Sequence

import torch
from tabulate import tabulate

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import datasets  # noqa: E402,F401  (registers the datasets)
import train  # noqa: E402
from backbones import load_clip  # noqa: E402
from dassl_compat import build_dataset, set_random_seed  # noqa: E402
from trainers.hgclip import hgclip_settings, prepare_prototypes  # noqa: E402


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = train.build_parser().parse_args(argv)
    args.trainer = args.trainer or "HGCLIP"
    cfg = train.setup_cfg(args)
    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)
    dataset = build_dataset(cfg)
    device = torch.device("cuda" if torch.cuda.is_available() and cfg.USE_CUDA else "cpu")
    clip_model = load_clip(cfg.MODEL.BACKBONE).float().to(device)
    settings = hgclip_settings(cfg.TRAINER.HGCLIP, int(clip_model.text_projection.shape[1]))
    result = prepare_prototypes(cfg, dataset, clip_model, settings, device)
    hierarchy = dataset.hierarchy
    rows = [
        [i, hierarchy.level_names[level], name, int(count), f"{float(vector.norm()):.3f}"]
        for i, (name, level, count, vector) in enumerate(
            zip(result.node_names, result.node_levels, result.counts, result.prototypes)
        )
    ]
    print(tabulate(rows, headers=["node", "level", "name", "train images", "norm"]))
    print(f"prototypes: {result.path}")
    return result.path


if __name__ == "__main__":
    main()
