"""Dassl's torch helpers that a checkout's trainers call: load a checkpoint file, load matching
pretrained weights, count parameters. (The checkpoint files themselves: :mod:`hgclip.engine.run_dir`.)"""
from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from typing import Any, Iterable, Mapping, Optional

import torch
import torch.nn as nn


def _strip_module_prefix(state_dict: Mapping[str, Any]) -> "OrderedDict[str, Any]":
    """Drop the ``module.`` prefix that nn.DataParallel adds to parameter names."""
    return OrderedDict((key[len("module."):] if key.startswith("module.") else key, value)
                       for key, value in state_dict.items())


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
