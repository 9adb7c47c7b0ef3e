"""Train or evaluate a hierarchical CLIP trainer (the CoOp/MaPLe command line).

    python train.py --root data --seed 1 --trainer HGCLIP \
        --dataset-config-file configs/datasets/hiershapes.yaml \
        --config-file configs/trainers/HGCLIP/tiny_hiershapes.yaml \
        --output-dir output/hgclip/seed1 DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES base
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Optional, Sequence

import torch

import hgclip.datasets  # noqa: F401  (registers the datasets)
import hgclip.evaluation  # noqa: F401  (registers the Hierarchical evaluator)
from hgclip.config import extend_cfg, merge_dataset_trainer_keys
from hgclip.dassl_compat import (announce_engine, build_trainer, collect_env_info, get_cfg_default, set_random_seed,
                                  setup_logger)
from hgclip.registry import register_table_names

register_table_names()  # this repository's names: CoOp, MaPLe, ... (and HierCoOp, ... as in a checkout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=str, default="", help="path to the datasets")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="", help="checkpoint directory to resume from")
    parser.add_argument("--seed", type=int, default=None, help="random seed (0 is honoured; negative = no seeding)")
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    parser.add_argument("--config-file", type=str, default="", help="path to the trainer config file")
    parser.add_argument("--dataset-config-file", type=str, default="", help="path to the dataset config file")
    parser.add_argument("--trainer", type=str, default="", help="name of the trainer")
    parser.add_argument("--backbone", type=str, default="", help="name of the CNN/CLIP backbone")
    parser.add_argument("--head", type=str, default="", help="name of the head")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="", help="load the model from this directory for eval-only")
    parser.add_argument("--load-epoch", type=int, help="load the model weights of this epoch for evaluation")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="modify config options (KEY VALUE ...)")
    return parser


def reset_cfg(cfg: Any, args: argparse.Namespace) -> None:
    """Copy the command-line arguments into the config (CLI beats the YAML files)."""
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed is not None:
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head


def setup_cfg(args: argparse.Namespace) -> Any:
    """defaults -> project keys -> dataset YAML -> trainer YAML -> the dataset YAML's TRAINER keys
    (dataset-specific trainer settings such as TRAINER.HGCLIP.CTX_INIT) -> CLI -> opts, then freeze."""
    cfg = extend_cfg(get_cfg_default())
    if args.dataset_config_file:
        cfg.merge_from_file(args.dataset_config_file)
    if args.config_file:
        cfg.merge_from_file(args.config_file)
        if args.dataset_config_file:
            merge_dataset_trainer_keys(cfg, args.dataset_config_file)
    reset_cfg(cfg, args)
    if args.opts:
        cfg.merge_from_list(args.opts)
    cfg.freeze()
    return cfg


def configure_cpu_threads() -> int:
    """Use half the CPU cores (at least one) unless HGCLIP_NUM_THREADS says otherwise.

    On a small machine whose cores are shared (data loading, a second run, CI), OpenMP
    threads that wait on each other made a tiny-CLIP training step 10-40x slower than
    one thread; half the cores keeps that from happening.
    """
    threads = int(os.environ.get("HGCLIP_NUM_THREADS", max(1, (os.cpu_count() or 2) // 2)))
    torch.set_num_threads(threads)
    return threads


def main(argv: Optional[Sequence[str]] = None) -> Any:
    args = build_parser().parse_args(argv)
    cfg = setup_cfg(args)
    if not (torch.cuda.is_available() and cfg.USE_CUDA):
        configure_cpu_threads()
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True

    print("** Arguments **")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************")
    print("** Config **")
    print(cfg)
    announce_engine()
    print("Collecting env info ...")
    print(f"** System info **\n{collect_env_info()}\n")

    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return trainer
    if not args.no_train:
        trainer.train()
    return trainer


if __name__ == "__main__":
    main()
