"""Checkpoint files in Dassl's layout, written atomically.

A directory holds ``model.pth.tar-<epoch>`` and/or ``model-best.pth.tar`` plus a
``checkpoint`` text file naming the latest one (used by automatic resume).
"""
from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from typing import Any, Iterable, Mapping, Optional

import torch
import torch.nn as nn

from ....common.fileio import atomic_torch_save, atomic_write_text
from .tools import mkdir_if_missing

POINTER_FILE = "checkpoint"
BEST_FILE = "model-best.pth.tar"


def _strip_module_prefix(state_dict: Mapping[str, Any]) -> "OrderedDict[str, Any]":
    """Drop the ``module.`` prefix that nn.DataParallel adds to parameter names."""
    return OrderedDict((key[len("module."):] if key.startswith("module.") else key, value)
                       for key, value in state_dict.items())


def save_checkpoint(
    state: dict,
    save_dir: str,
    is_best: bool = False,
    remove_module_from_keys: bool = True,
    model_name: str = "",
) -> str:
    """Save ``state`` to ``<save_dir>/model.pth.tar-<state['epoch']>`` (or ``model_name``).

    Also rewrites the ``checkpoint`` pointer file and, with ``is_best``, writes
    ``model-best.pth.tar``. Every file is replaced atomically, so a crash never
    leaves a truncated checkpoint. Returns the path written.
    """
    mkdir_if_missing(save_dir)
    state = dict(state)  # the caller's dict is left as it was
    if remove_module_from_keys:
        state["state_dict"] = _strip_module_prefix(state["state_dict"])

    fname = model_name or f"model.pth.tar-{state['epoch']}"
    fpath = os.path.join(save_dir, fname)
    atomic_torch_save(state, fpath)
    print(f"Checkpoint saved to {fpath}")

    atomic_write_text(os.path.join(save_dir, POINTER_FILE), fname + "\n")

    if is_best:
        best_fpath = os.path.join(save_dir, BEST_FILE)
        atomic_torch_save(state, best_fpath)
        print(f'Best checkpoint saved to "{best_fpath}"')
    return fpath


def load_checkpoint(fpath: str) -> dict:
    """Load a checkpoint onto the CPU when CUDA is absent.

    ``weights_only=False`` because checkpoints hold non-tensor entries (epoch,
    val_result, optimizer/scheduler state). Only load files you trust.
    """
    if fpath is None:
        raise ValueError("load_checkpoint: file path is None")
    if not os.path.exists(fpath):
        raise FileNotFoundError(f'File is not found at "{fpath}"')
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=False)
    except UnicodeDecodeError:
        # checkpoints pickled by Python 2
        return torch.load(fpath, map_location=map_location, weights_only=False, encoding="latin1")
    except Exception:
        print(f'Unable to load checkpoint from "{fpath}"')
        raise


def resume_from_checkpoint(
    fdir: str,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
) -> int:
    """Load the checkpoint named by ``<fdir>/checkpoint``; return its saved epoch."""
    pointer = os.path.join(fdir, POINTER_FILE)
    with open(pointer, "r", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{pointer}:1: expected the name of a checkpoint file, found nothing")
    fpath = os.path.join(fdir, lines[0].strip())

    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    model.load_state_dict(checkpoint["state_dict"])
    print("Loaded model weights")
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")
    start_epoch = checkpoint["epoch"]
    print(f"Previous epoch: {start_epoch}")
    return start_epoch


def load_pretrained_weights(model: nn.Module, weight_path: str) -> None:
    """Load the entries of ``weight_path`` whose name and shape match ``model``; report the rest."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    model_dict = model.state_dict()
    matched, discarded = OrderedDict(), []
    for key, value in _strip_module_prefix(state_dict).items():
        if key in model_dict and model_dict[key].size() == value.size():
            matched[key] = value
        else:
            discarded.append(key)
    model_dict.update(matched)
    model.load_state_dict(model_dict)

    if not matched:
        warnings.warn(f"Cannot load {weight_path} (no key matches the model in name and shape)")
        return
    print(f"Successfully loaded pretrained weights from {weight_path}")
    if discarded:
        print(f"Layers discarded due to unmatched keys or size: {discarded}")


def count_num_param(model: Optional[nn.Module] = None, params: Optional[Iterable[Any]] = None) -> int:
    """Count parameters of ``model`` or of ``params`` (tensors or param-group dicts)."""
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    if params is not None:
        total = 0
        for p in params:
            if isinstance(p, dict):  # a param group
                group = p["params"]
                tensors = [group] if isinstance(group, torch.Tensor) else list(group)
                total += sum(t.numel() for t in tensors)
            else:
                total += p.numel()
        return total
    raise ValueError("count_num_param: give a model or params")
