"""Image transforms that torchvision does not provide under Dassl's semantics."""
from __future__ import annotations

import random

import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode


class Random2DTranslation:
    """With probability ``p``: resize to 1.125x the target size and crop a random
    (height, width) window; otherwise resize straight to (height, width)."""

    def __init__(self, height: int, width: int, p: float = 0.5,
                 interpolation: InterpolationMode = InterpolationMode.BILINEAR) -> None:
        self.height = height
        self.width = width
        self.p = p
        self.interpolation = interpolation

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return F.resize(img, [self.height, self.width], interpolation=self.interpolation)
        big_h = int(round(self.height * 1.125))
        big_w = int(round(self.width * 1.125))
        img = F.resize(img, [big_h, big_w], interpolation=self.interpolation)
        top = int(round(random.uniform(0, big_h - self.height)))
        left = int(round(random.uniform(0, big_w - self.width)))
        return F.crop(img, top, left, self.height, self.width)


class Cutout:
    """Zero ``n_holes`` square patches of side ``length`` in a CHW tensor (centres may lie anywhere)."""

    def __init__(self, n_holes: int = 1, length: int = 16) -> None:
        self.n_holes = n_holes
        self.length = length

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[1], img.shape[2]
        mask = torch.ones(h, w, dtype=img.dtype)
        half = self.length // 2
        for _ in range(self.n_holes):
            y = int(torch.randint(h, (1,)))
            x = int(torch.randint(w, (1,)))
            mask[max(0, y - half):min(h, y + half), max(0, x - half):min(w, x + half)] = 0
        return img * mask


class GaussianNoise:
    """With probability ``p`` add N(mean, std^2) noise to a tensor image."""

    def __init__(self, mean: float = 0.0, std: float = 0.15, p: float = 0.5) -> None:
        self.mean = mean
        self.std = std
        self.p = p

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if random.uniform(0, 1) > self.p:
            return img
        return img + torch.randn(img.size()) * self.std + self.mean


class InstanceNormalization:
    """Normalise each channel of a CHW tensor by its own mean and std."""

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = eps

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        channels = img.shape[0]
        flat = img.reshape(channels, -1)
        mean = flat.mean(1).view(channels, 1, 1)
        std = flat.std(1).view(channels, 1, 1)
        return (img - mean) / (std + self.eps)
