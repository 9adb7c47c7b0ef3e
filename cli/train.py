"""Train or evaluate a hierarchical CLIP trainer (the CoOp/MaPLe command line).

    python train.py --root data --seed 1 --trainer HGCLIP \
        --dataset-config-file configs/datasets/hiershapes.yaml \
        --config-file configs/trainers/HGCLIP/tiny_hiershapes.yaml \
        --output-dir output/hgclip/seed1 DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES base

``--config NAME`` instead of ``--config-file``: the trainer's named config (``--config tiny``, ``--config
vit_b16_ep50_paper``; roles and names in its ``CONFIGS``, :mod:`hgclip.engine.named_configs`).

Several processes: ``torchrun --nproc_per_node N train.py ...`` (docs/guide/running.md, "Several GPUs or machines").
Bad input (a file, a config key, a checkpoint) ends with one line on stderr and exit code 2
(``--debug`` shows the traceback); the config dump goes to ``<output dir>/log.txt``.
"""
from __future__ import annotations

import warnings

# torch_geometric scripts a helper at import time, which current torch reports as deprecated on every run
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

import argparse
import contextlib
import difflib
import os
import signal
import sys
from typing import Any, Optional, Sequence

import torch

from .. import project  # noqa: F401  (registers the trainers, datasets and evaluator; table names CoOp, MaPLe, ...)
from ..common.config_io import merge_config_file, merge_config_list
from ..common.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_PEER_LOST,
    MAX_ERROR_LINE,
    InputError,
    is_input_error,
    is_storage_error,
    one_line,
)
from ..config import extend_cfg, merge_dataset_trainer_keys
from ..engine.config_checks import check_values
from ..engine.named_configs import dataset_config, package_file, trainer_config
from ..engine.run_directory import RunDirectory, reserved
from ..registry import has_parameters, import_trainer_module, list_trainers
from ..runtime import distributed as dist
from ..runtime.dassl_api import (
    DATASET_REGISTRY,
    TRAINER_REGISTRY,
    announce_engine,
    build_trainer,
    collect_env_info,
    get_cfg_default,
    set_random_seed,
    setup_logger,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=str, default="", help="path to the datasets")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="", help="checkpoint directory to resume from")
    parser.add_argument("--seed", type=int, default=None, help="random seed (0 is honoured; negative = no seeding)")
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--config-file", type=str, default="", help="path to the trainer config file")
    which.add_argument("--config", type=str, default="", metavar="NAME",
                       help="the --trainer's named config instead of a file: a role (tiny, base2new, paper) or a "
                            "config name (e.g. tiny_hiershapes, vit_b16_ep50_paper); see its CONFIGS")
    parser.add_argument("--dataset-config-file", type=str, default="",
                        help="path to the dataset config file, or a dataset config name of the package (hiershapes)")
    parser.add_argument("--trainer", type=str, default="", help="name of the trainer")
    parser.add_argument("--trainer-module", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="a Python file or module that registers more trainers (their config keys come with "
                             "them); repeatable, imported in order")
    parser.add_argument("--backbone", type=str, default="", help="name of the CNN/CLIP backbone")
    parser.add_argument("--head", type=str, default="", help="name of the head")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="", help="load the model from this directory for eval-only")
    parser.add_argument("--load-epoch", type=int, help="load the model weights of this epoch for evaluation")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument("--check-inputs", action="store_true",
                        help="write nothing: compare the output directory's recorded config and inputs (hierarchy, "
                             "images, CLIP weights) with this command's; exit 0 when they agree, 2 with one line when "
                             "not (how hgclip-compare and the sweep decide to reuse a finished run)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start the output directory afresh even if it was run with another config or on "
                             "other inputs (training: its checkpoints, results and tensorboard logs are deleted; "
                             "--eval-only: its evaluation outputs)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--show-config", action="store_true",
                        help="also print the arguments, the config and the environment on the terminal (always in log.txt)")
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
    if getattr(args, "overwrite", False):  # the run directory's owner reads it (hgclip.engine.run_directory)
        cfg.OVERWRITE_OUTPUT_DIR = True


def resolve_named_config(args: argparse.Namespace) -> None:
    """``--config NAME`` -> ``args.config_file``: the YAML file the ``--trainer`` declares under that name."""
    name = getattr(args, "config", "")
    if not name:
        return
    if not args.trainer:
        raise InputError(f"--config {name} needs --trainer (the config names are the trainer's); "
                         "or give a file with --config-file")
    args.config_file = trainer_config(args.trainer, name)


def resolve_config_files(args: argparse.Namespace) -> None:
    """A dataset config name (``hiershapes``) or a relative path into the installed package
    (``configs/datasets/x.yaml`` run from another folder) -> the package's file; existing paths stay as given."""
    if args.dataset_config_file and not os.path.exists(args.dataset_config_file):
        args.dataset_config_file = dataset_config(args.dataset_config_file)
    if args.config_file and not os.path.exists(args.config_file):
        args.config_file = package_file(args.config_file) or args.config_file  # else: merging says it is missing


def setup_cfg(args: argparse.Namespace) -> Any:
    """defaults -> project keys -> dataset YAML -> trainer YAML -> the dataset YAML's TRAINER keys
    (dataset-specific trainer settings such as TRAINER.HGCLIP.CTX_INIT) -> CLI -> opts, then freeze
    (one-line errors). The ``--trainer-module`` files are imported first: their trainers declare their keys."""
    for spec in getattr(args, "trainer_module", None) or []:
        import_trainer_module(spec)
    resolve_named_config(args)
    resolve_config_files(args)
    cfg = extend_cfg(get_cfg_default())
    if args.dataset_config_file:
        merge_config_file(cfg, args.dataset_config_file)
    if args.config_file:
        merge_config_file(cfg, args.config_file)
        if args.dataset_config_file:
            merge_dataset_trainer_keys(cfg, args.dataset_config_file)
    reset_cfg(cfg, args)
    if args.opts:
        merge_config_list(cfg, args.opts)
    cfg.freeze()
    return cfg


def trainer_key(cfg: Any) -> str:
    """The ``TRAINER.<KEY>`` section the run's trainer reads (its ``CFG_KEY``; the trainer name otherwise)."""
    return getattr(TRAINER_REGISTRY.get(cfg.TRAINER.NAME), "CFG_KEY", "") or cfg.TRAINER.NAME.upper()


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """`` (did you mean X?)`` for the closest registered name, so it survives a message cut to one line."""
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def validate(cfg: Any, args: argparse.Namespace) -> None:
    """What can be checked before anything is built: names, the eval-only model, level weights."""
    from ..models.losses import check_level_weight_values

    name = cfg.TRAINER.NAME
    if name not in TRAINER_REGISTRY.registered_names():
        raise InputError(f"TRAINER.NAME (--trainer) {name!r} is not a registered trainer{did_you_mean(name, list_trainers())}; "
                         f"registered: {', '.join(list_trainers())}")
    dataset = cfg.DATASET.NAME
    if dataset not in DATASET_REGISTRY.registered_names():
        names = sorted(DATASET_REGISTRY.registered_names())
        raise InputError(f"DATASET.NAME {dataset!r} is not a registered dataset{did_you_mean(dataset, names)} (set it with "
                         f"--dataset-config-file configs/datasets/<name>.yaml); registered: {', '.join(names)}")
    if args.eval_only and not args.model_dir and has_parameters(name):
        raise InputError(f"--eval-only needs --model-dir for trainer {name}: it has trained parameters (give the "
                         "output directory of its training run); only trainers without parameters, such as "
                         "ZeroshotCLIP, evaluate without one")
    check_values(cfg, training=has_parameters(name) and not (args.eval_only or args.no_train))
    for flag, path in (("--output-dir", cfg.OUTPUT_DIR), ("--root", cfg.DATASET.ROOT), ("--resume", cfg.RESUME),
                       ("--model-dir", args.model_dir)):
        if path and os.path.exists(path) and not os.path.isdir(path):
            raise InputError(f"{flag} {path} is a file; expected a directory")
    key = trainer_key(cfg)
    if key in cfg.TRAINER and "LEVEL_WEIGHTS" in cfg.TRAINER[key]:
        protect = cfg.LOSS.PROTECT if "LOSS" in cfg and "PROTECT" in cfg.LOSS else {}
        protect_on = any(float(protect.get(k, 0.0)) > 0 for k in ("NODE_WEIGHT", "TREECUT_WEIGHT"))
        check_level_weight_values(list(cfg.TRAINER[key].LEVEL_WEIGHTS), f"TRAINER.{key}.LEVEL_WEIGHTS",
                                  allow_all_zero=protect_on)
    if dist.launched_by_torchrun() and int(os.environ.get("WORLD_SIZE", 1)) > 1 and cfg.SEED < 0:
        raise InputError("--seed must be >= 0 with several processes: every process must draw the same "
                         "few-shot split and model initialisation")


def configure_cpu_threads(processes_here: int = 1) -> int:
    """Use half the CPU cores (at least one, shared by the processes on this machine) unless HGCLIP_NUM_THREADS says otherwise.

    On a small machine whose cores are shared (data loading, a second run, CI), OpenMP
    threads that wait on each other made a tiny-CLIP training step 10-40x slower than
    one thread; half the cores keeps that from happening.
    """
    default = max(1, (os.cpu_count() or 2) // 2 // max(1, processes_here))
    threads = int(os.environ.get("HGCLIP_NUM_THREADS", default))
    torch.set_num_threads(threads)
    return threads


def log_only(text: str) -> None:
    """Write to ``log.txt`` but not to the terminal (the logger's file, under either engine)."""
    handle = getattr(sys.stdout, "file", None)
    if handle is not None and not getattr(handle, "closed", False):
        try:
            handle.write(text if text.endswith("\n") else text + "\n")
            handle.flush()
        except OSError:
            pass  # a full disk: the line still reaches the terminal, which is what matters


def run(args: argparse.Namespace) -> Any:
    cfg = setup_cfg(args)
    validate(cfg, args)
    info = dist.init_from_env(use_cuda=bool(cfg.USE_CUDA))
    if not (torch.cuda.is_available() and cfg.USE_CUDA):
        configure_cpu_threads(info.local_world_size)
    if not dist.is_main():
        sys.stdout = open(os.devnull, "w")  # only rank 0 logs
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)

    if args.check_inputs:
        return check_inputs(cfg)
    with reserved(cfg.OUTPUT_DIR):  # the directory's lock before log.txt is opened (a busy one: refused first)
        if dist.is_main():
            setup_logger(cfg.OUTPUT_DIR)
        if torch.cuda.is_available() and cfg.USE_CUDA:
            torch.backends.cudnn.benchmark = True

        show = print if args.show_config else log_only
        show("** Arguments **\n" + "".join(f"{key}: {getattr(args, key)}\n" for key in sorted(vars(args))) + "************")
        show(f"** Config **\n{cfg}")
        if info.world_size > 1:
            print(f"Distributed: {info.world_size} processes ({info.backend}); "
                  f"DATALOADER.TRAIN_X.BATCH_SIZE {cfg.DATALOADER.TRAIN_X.BATCH_SIZE} is the global batch")
        announce_engine()
        show(f"** System info **\n{collect_env_info()}\n")

        # the trainer owns its output directory (hgclip.engine.run_directory): train(), load_model() and test()
        # check and record its config and inputs, as they do when a checkout's train.py calls them
        trainer = build_trainer(cfg)
        with foreign_trainer_session(trainer, cfg, args):
            if args.eval_only:
                trainer.load_model(args.model_dir, epoch=args.load_epoch)
                trainer.test()
            elif not args.no_train:
                trainer.train()
        dist.barrier()
    return trainer


def check_inputs(cfg: Any) -> Any:
    """``--check-inputs``: build the trainer (data, CLIP, model; no log file, nothing written) and compare what the
    output directory recorded with what this command would run on."""
    trainer = build_trainer(cfg)
    if not hasattr(trainer, "run_directory"):
        raise InputError(f"--check-inputs: trainer {cfg.TRAINER.NAME} does not record its inputs")
    trainer.run_directory.check_recorded(trainer.input_fingerprints())
    print(f"{cfg.OUTPUT_DIR}: its recorded config and inputs agree with this command's")
    return trainer


def foreign_trainer_session(trainer: Any, cfg: Any, args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Nothing for this project's trainers (they own their directory); around a Dassl trainer not built on
    them (``--trainer-module``) the same owner's session: the lock and the recorded config."""
    if hasattr(trainer, "run_directory"):
        return contextlib.nullcontext()
    owner = RunDirectory(cfg, trainer_key(cfg))
    if args.eval_only:
        owner.model_dir = args.model_dir
        return owner.evaluation(dict)
    return owner.training()


def stop_with_one_line(message: str, code: int, every_rank: bool = False) -> None:
    """End the process with ``error: <message>`` on stderr and ``code``: rank 0 only (the other ranks stay silent),
    unless ``every_rank`` (an error only the process that hit it knows of, such as an image of its own shard)."""
    line = f"error: {message}"
    log_only(line)
    if dist.is_main():
        print(line, file=sys.stderr, flush=True)
    elif every_rank:  # rank 0's progress bar may be mid-line on the shared terminal: start a line of its own
        print("\n" + line, file=sys.stderr, flush=True)
    raise SystemExit(code) from None


def main(argv: Optional[Sequence[str]] = None) -> Any:
    args = build_parser().parse_args(argv)
    try:
        trainer = run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C (or the launcher's) must not cut the line
        stop_with_one_line("interrupted (Ctrl-C); run the same command again to continue from the newest checkpoint",
                           EXIT_INTERRUPTED)
    except Exception as error:
        lost = "" if args.debug else dist.peer_loss(error)
        if lost:  # the process that stopped (or torchrun) says why; this one only that it lost it
            stop_with_one_line(f"another process of this run stopped ({dist.process_info().backend}: {lost}); "
                               "its own output, or the launcher's, says why", EXIT_PEER_LOST)
        if args.debug or not (is_input_error(error) or is_storage_error(error)):
            raise
        stop_with_one_line(one_line(error, limit=MAX_ERROR_LINE - len("error: ")), EXIT_BAD_INPUT,
                           every_rank=bool(getattr(error, "rank_local", False)))
    dist.shutdown()
    return trainer


if __name__ == "__main__":
    main()
