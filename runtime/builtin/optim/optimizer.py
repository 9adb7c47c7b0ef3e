"""build_optimizer: ``OPTIM.NAME`` -> a torch optimizer with Dassl's hyper-parameters."""
from __future__ import annotations

import warnings
from typing import Any, Iterable, Optional, Union

import torch
import torch.nn as nn
from yacs.config import CfgNode

AVAI_OPTIMS = ["adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw"]


def _staged_param_groups(model: nn.Module, optim_cfg: CfgNode) -> list[dict]:
    """Two groups: children named in NEW_LAYERS at LR, the rest at LR * BASE_LR_MULT."""
    if not isinstance(model, nn.Module):
        raise TypeError("OPTIM.STAGED_LR=True needs an nn.Module, not an iterable of parameters")
    if isinstance(model, nn.DataParallel):
        model = model.module
    new_layers = optim_cfg.NEW_LAYERS
    if isinstance(new_layers, str):
        new_layers = [new_layers]
    if not new_layers:
        warnings.warn("OPTIM.NEW_LAYERS is empty, so OPTIM.STAGED_LR has no effect")
    base_params, new_params = [], []
    for name, child in model.named_children():
        (new_params if name in new_layers else base_params).extend(child.parameters())
    return [{"params": base_params, "lr": optim_cfg.LR * optim_cfg.BASE_LR_MULT}, {"params": new_params}]


def build_optimizer(
    model_or_params: Union[nn.Module, Iterable[Any]],
    optim_cfg: CfgNode,
    param_groups: Optional[Iterable[Any]] = None,
) -> torch.optim.Optimizer:
    """Build the optimizer named ``optim_cfg.NAME``.

    ``model_or_params`` is a module (all its parameters) or an iterable of
    parameters; an explicit ``param_groups`` overrides both and STAGED_LR.
    """
    name = optim_cfg.NAME
    if name not in AVAI_OPTIMS:
        raise ValueError(f"OPTIM.NAME must be one of {AVAI_OPTIMS}, but got {name!r}")
    if param_groups is not None and optim_cfg.STAGED_LR:
        warnings.warn("OPTIM.STAGED_LR is ignored because param_groups were given")

    if param_groups is None:
        if optim_cfg.STAGED_LR:
            param_groups = _staged_param_groups(model_or_params, optim_cfg)
        elif isinstance(model_or_params, nn.Module):
            param_groups = model_or_params.parameters()
        else:
            param_groups = model_or_params

    lr, wd = optim_cfg.LR, optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(param_groups, lr=lr, weight_decay=wd, betas=betas, amsgrad=name == "amsgrad")
    if name == "sgd":
        return torch.optim.SGD(param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd,
                               dampening=optim_cfg.SGD_DAMPNING, nesterov=optim_cfg.SGD_NESTEROV)
    if name == "rmsprop":
        return torch.optim.RMSprop(param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd,
                                   alpha=optim_cfg.RMSPROP_ALPHA)
    if name == "radam":
        return torch.optim.RAdam(param_groups, lr=lr, weight_decay=wd, betas=betas)
    return torch.optim.AdamW(param_groups, lr=lr, weight_decay=wd, betas=betas)
