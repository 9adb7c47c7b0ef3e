"""PromptSRC's Gaussian-weighted prompt aggregation (GPA) over training epochs."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn


def gaussian_epoch_weights(num_epochs: int, mean: float, std: float) -> list[float]:
    r"""Normalised weights :math:`w_e \propto \exp(-\tfrac12((e - \mu)/\sigma)^2)` for epochs :math:`e = 1..N`.

    Epoch ``e`` is 1-based (PromptSRC weighs the prompts after epoch ``e`` with
    the density at ``e``). Computed as a softmax of the log-densities, so a very
    small ``std`` gives a one-hot weight instead of 0/0.
    """
    if num_epochs < 1:
        raise ValueError(f"GPA needs at least one epoch, got {num_epochs}")
    if not std > 0:
        raise ValueError(f"GPA_STD must be > 0, got {std}")
    logits = torch.tensor([-0.5 * ((e - mean) / std) ** 2 for e in range(1, num_epochs + 1)], dtype=torch.float64)
    return torch.softmax(logits, dim=0).tolist()


def scaled_gpa_moments(mean: float, std: float, max_epoch: int, reference_epochs: int) -> tuple[float, float]:
    """``(mean, std)`` rescaled from a ``reference_epochs``-epoch schedule to ``max_epoch`` (0 = as given)."""
    if reference_epochs <= 0 or reference_epochs == max_epoch:
        return float(mean), float(std)
    factor = max_epoch / reference_epochs
    return float(mean) * factor, float(std) * factor


class GaussianPromptAggregator:
    r"""Running weighted average :math:`\bar\theta = \sum_e w_e \theta_e / \sum_e w_e` of a module's parameters.

    Call :meth:`update` after each epoch with that epoch's weight and
    :meth:`load_into` after the last one. Only floating-point entries of the
    module's ``state_dict`` are averaged. The running sums are part of every
    checkpoint (:meth:`state_dict`), so a resumed run averages every epoch, exactly as
    an uninterrupted one.
    """

    def __init__(self) -> None:
        self.sum: Optional[dict[str, Tensor]] = None
        self.total_weight = 0.0
        self.num_updates = 0

    def update(self, module: nn.Module, weight: float) -> None:
        state = {k: v.detach().float().clone() for k, v in module.state_dict().items() if v.is_floating_point()}
        if self.sum is None:
            self.sum = {k: weight * v for k, v in state.items()}
        else:
            for key, value in state.items():
                self.sum[key].add_(value, alpha=weight)
        self.total_weight += weight
        self.num_updates += 1

    def state_dict(self) -> dict:
        """The running sums and weights (what a checkpoint stores)."""
        return {"sum": None if self.sum is None else {k: v.clone() for k, v in self.sum.items()},
                "total_weight": self.total_weight, "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        self.sum = None if state["sum"] is None else {k: v.clone() for k, v in state["sum"].items()}
        self.total_weight = float(state["total_weight"])
        self.num_updates = int(state["num_updates"])

    def average(self) -> dict[str, Tensor]:
        if self.sum is None or not (self.total_weight > 0 and math.isfinite(self.total_weight)):
            raise RuntimeError("GPA has no weighted snapshots to average (no epoch with a non-zero weight)")
        return {k: v / self.total_weight for k, v in self.sum.items()}

    @torch.no_grad()
    def load_into(self, module: nn.Module) -> None:
        """Copy the average into ``module``'s parameters/buffers (in their own dtype)."""
        average = self.average()
        state = module.state_dict()
        for key, value in average.items():
            state[key].copy_(value.to(state[key].dtype))
