"""Build (or load from the cache) HGCLIP's node prototypes for a configuration, and show them.

Takes train.py's arguments and goes through the very functions the HGCLIP trainer uses
(the same CLIP loading and precision, the same training split, transform and cache), so
the prototypes are those a run with these arguments would use:

    python -m hgclip.cli.build_prototypes --root data --seed 1 \
        --dataset-config-file configs/datasets/hiershapes.yaml \
        --config-file configs/trainers/HGCLIP/tiny_hiershapes.yaml DATASET.NUM_SHOTS 16
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from tabulate import tabulate

from .. import embedded  # noqa: F401  (registers the tiny CLIP backbones)
from ..backbones import load_clip
from ..backbones.precision import apply_precision, resolve_precision
from ..runtime.dassl_api import build_dataset, set_random_seed
from ..trainers.hgclip import prepare_prototypes
from . import train


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = train.build_parser().parse_args(argv)
    args.trainer = args.trainer or "HGCLIP"
    cfg = train.setup_cfg(args)
    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)
    dataset = build_dataset(cfg)
    device = torch.device("cuda" if torch.cuda.is_available() and cfg.USE_CUDA else "cpu")
    precision = resolve_precision(cfg.TRAINER.HGCLIP.PREC, device, "TRAINER.HGCLIP.PREC")
    clip_model = apply_precision(load_clip(cfg.MODEL.BACKBONE), precision).to(device)
    result = prepare_prototypes(cfg, dataset, clip_model, device)
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
