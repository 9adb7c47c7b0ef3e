"""Evaluation-time caching of everything a model computes without looking at the image."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn


class CachedTextModel(nn.Module):
    """Mixin for models whose class features (text features, refined prototypes) do not depend on the image.

    ``cached(name, compute)`` returns ``compute()`` while training or while gradients are on,
    and computes it once per evaluation otherwise: an evaluation pass then encodes the class
    prompts once instead of once per batch. Switching mode (``train()``/``eval()``) or
    calling :meth:`clear_cache` (after loading weights) empties the cache.
    """

    def _eval_cache(self) -> dict:
        # stored in __dict__ so that nn.Module does not treat the cached tensors as state
        return self.__dict__.setdefault("_eval_cache_store", {})

    def cached(self, name: str, compute: Callable[[], Any]) -> Any:
        if self.training or torch.is_grad_enabled():
            return compute()
        cache = self._eval_cache()
        if name not in cache:
            cache[name] = compute()
        return cache[name]

    def clear_cache(self) -> None:
        self._eval_cache().clear()

    def train(self, mode: bool = True) -> "CachedTextModel":
        self.clear_cache()
        return super().train(mode)
