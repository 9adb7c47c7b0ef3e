"""Running averages of losses and timings for the training log lines."""
from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Optional, Union

import torch

Number = Union[int, float, torch.Tensor]


def _to_float(value: Number) -> float:
    return value.item() if isinstance(value, torch.Tensor) else float(value)


class AverageMeter:
    """Current value and (plain or exponential moving) average of a scalar."""

    def __init__(self, ema: bool = False) -> None:
        self.ema = ema
        self.reset()

    def reset(self) -> None:
        self.val = 0.0
        self.avg = 0.0
        self.sum = 0.0
        self.count = 0

    def update(self, val: Number, n: int = 1) -> None:
        val = _to_float(val)
        self.val = val
        self.sum += val * n
        self.count += n
        if self.ema:
            self.avg = self.avg * 0.9 + val * 0.1
        else:
            self.avg = self.sum / self.count


class MetricMeter:
    """A set of named AverageMeters; ``str()`` gives ``name val (avg)`` pairs."""

    def __init__(self, delimiter: str = " ") -> None:
        self.meters: defaultdict[str, AverageMeter] = defaultdict(AverageMeter)
        self.delimiter = delimiter

    def update(self, input_dict: Optional[Mapping[str, Number]]) -> None:
        if input_dict is None:
            return
        if not isinstance(input_dict, Mapping):
            raise TypeError(f"MetricMeter.update() expects a dict of numbers, got {type(input_dict).__name__}")
        for name, value in input_dict.items():
            self.meters[name].update(value)

    def __str__(self) -> str:
        return self.delimiter.join(f"{name} {m.val:.4f} ({m.avg:.4f})" for name, m in self.meters.items())
