"""Build real trainers on a small HierShapes with a random-init tiny CLIP, through train.py's config path.

Which trainers exist is the registry's business (``hgclip.registry.list_trainers``); nothing here
lists them. Per-trainer test options (a learning rate that suits a method) are the only per-name data.
"""
from __future__ import annotations

import os.path as osp
from typing import Any

from hgclip.cli import train
from hgclip.engine.named_configs import list_trainer_configs
from hgclip.runtime.dassl_api import build_trainer

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Fast settings for a trainer that ships no tiny config of its own (e.g. one registered by a test).
COMMON_TINY_CONFIG = osp.join(REPO, "tests", "data", "tiny_common.yaml")


def tiny_config_file(trainer: str) -> str:
    """The trainer's ``tiny`` config (its ``CONFIGS``), else the common one (a trainer registered by a test)."""
    return list_trainer_configs(trainer).get("tiny", COMMON_TINY_CONFIG)


def make_cfg(trainer: str, root: str, output_dir: str, *opts: Any) -> Any:
    """The config ``train.py`` would build for a small, fast run (random tiny CLIP, 2 shots, 1 epoch)."""
    args = train.build_parser().parse_args([
        "--root", root, "--seed", "1", "--trainer", trainer, "--output-dir", output_dir,
        "--dataset-config-file", osp.join(REPO, "configs", "datasets", "hiershapes.yaml"),
        "--config-file", tiny_config_file(trainer),
        "MODEL.BACKBONE.NAME", "tiny-random", "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "16", "TRAIN.PRINT_FREQ", "100",
        *[str(o) for o in opts],
    ])
    return train.setup_cfg(args)


def make_trainer(trainer: str, root: str, output_dir: str, *opts: Any) -> Any:
    return build_trainer(make_cfg(trainer, root, output_dir, *opts))


def first_batch(trainer: Any) -> dict:
    return next(iter(trainer.train_loader_x))

#: Options for the "a few steps lower the loss" check where the shared LR is too aggressive:
#: KgCoOp's consistency term reacts strongly to context changes on a random CLIP, so it uses
#: its published learning rate (0.002).
TRAIN_STEP_OPTIONS: dict[str, tuple[str, ...]] = {"KgCoOp": ("OPTIM.LR", "0.002")}
