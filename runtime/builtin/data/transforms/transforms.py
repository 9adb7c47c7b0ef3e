"""``build_transform``: Dassl's transform names, pipeline order and test pipeline."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torchvision.transforms as T
from torchvision.transforms import InterpolationMode
from yacs.config import CfgNode

from .ops import Cutout, GaussianNoise, InstanceNormalization, Random2DTranslation

AVAI_CHOICES = [
    "random_flip",
    "random_resized_crop",
    "normalize",
    "instance_norm",
    "random_crop",
    "random_translation",
    "center_crop",  # always applied at test time; a no-op in training, as in Dassl
    "cutout",
    "imagenet_policy",
    "cifar10_policy",
    "svhn_policy",
    "randaugment",
    "gaussian_noise",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
]

# Dassl ships these two with its own operation lists; they are not provided here.
NOT_PROVIDED = ["randaugment_fixmatch", "randaugment2"]

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}

_AUTOAUGMENT_POLICIES = {
    "imagenet_policy": T.AutoAugmentPolicy.IMAGENET,
    "cifar10_policy": T.AutoAugmentPolicy.CIFAR10,
    "svhn_policy": T.AutoAugmentPolicy.SVHN,
}


class _Pipeline:
    """Collect transforms, printing one ``+ step`` line each, as Dassl's log does."""

    def __init__(self) -> None:
        self.steps: list = []

    def add(self, message: str, transform: Callable) -> None:
        print(f"+ {message}")
        self.steps.append(transform)

    def compose(self) -> T.Compose:
        return T.Compose(self.steps)


def _check_choices(choices: Sequence[str]) -> None:
    for choice in choices:
        if choice in NOT_PROVIDED:
            raise ValueError(f"INPUT.TRANSFORMS: '{choice}' is not provided by the builtin engine; "
                             f"accepted: {AVAI_CHOICES}")
        if choice not in AVAI_CHOICES:
            raise ValueError(f"INPUT.TRANSFORMS: unknown transform '{choice}'; accepted: {AVAI_CHOICES}")


def _interpolation(cfg: CfgNode) -> InterpolationMode:
    name = cfg.INPUT.INTERPOLATION
    if name not in INTERPOLATION_MODES:
        raise ValueError(f"INPUT.INTERPOLATION: unknown mode '{name}'; accepted: {list(INTERPOLATION_MODES)}")
    return INTERPOLATION_MODES[name]


def build_transform(cfg: CfgNode, is_train: bool = True, choices: Optional[Sequence[str]] = None) -> Optional[Callable]:
    """Build the training or test pipeline from ``cfg.INPUT`` (or ``choices`` if given).

    Returns None when ``INPUT.NO_TRANSFORM`` is set. Unknown names raise a
    one-line ValueError listing the accepted ones.
    """
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    choices = list(cfg.INPUT.TRANSFORMS if choices is None else choices)
    _check_choices(choices)
    interp = _interpolation(cfg)
    normalize = T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)
    if is_train:
        return _build_train(cfg, choices, interp, normalize)
    return _build_test(cfg, choices, interp, normalize)


def _build_train(cfg: CfgNode, choices: list, interp: InterpolationMode, normalize: T.Normalize) -> T.Compose:
    print("Building transform_train")
    inp = cfg.INPUT
    size = tuple(inp.SIZE)
    pipe = _Pipeline()
    add = pipe.add
    if "random_crop" not in choices and "random_resized_crop" not in choices:
        add(f"resize to {size[0]}x{size[1]}", T.Resize(size, interpolation=interp))
    if "random_translation" in choices:
        add("random translation", Random2DTranslation(size[0], size[1], interpolation=interp))
    if "random_crop" in choices:
        add(f"random crop (padding = {inp.CROP_PADDING})", T.RandomCrop(size, padding=inp.CROP_PADDING))
    if "random_resized_crop" in choices:
        add(f"random resized crop (size={size}, scale={tuple(inp.RRCROP_SCALE)})",
            T.RandomResizedCrop(size, scale=tuple(inp.RRCROP_SCALE), interpolation=interp))
    if "random_flip" in choices:
        add("random flip", T.RandomHorizontalFlip())
    for name, policy in _AUTOAUGMENT_POLICIES.items():
        if name in choices:
            add(name.replace("_", " "), T.AutoAugment(policy))
    if "randaugment" in choices:
        add(f"randaugment (n={inp.RANDAUGMENT_N}, m={inp.RANDAUGMENT_M})",
            T.RandAugment(num_ops=inp.RANDAUGMENT_N, magnitude=inp.RANDAUGMENT_M))
    if "colorjitter" in choices:
        add(f"color jitter (brightness={inp.COLORJITTER_B}, contrast={inp.COLORJITTER_C}, "
            f"saturation={inp.COLORJITTER_S}, hue={inp.COLORJITTER_H})",
            T.ColorJitter(brightness=inp.COLORJITTER_B, contrast=inp.COLORJITTER_C,
                          saturation=inp.COLORJITTER_S, hue=inp.COLORJITTER_H))
    if "randomgrayscale" in choices:
        add("random gray scale", T.RandomGrayscale(p=inp.RGS_P))
    if "gaussian_blur" in choices:
        add(f"gaussian blur (kernel={inp.GB_K})", T.RandomApply([T.GaussianBlur(inp.GB_K)], p=inp.GB_P))
    add("to torch tensor of range [0, 1]", T.ToTensor())
    if "cutout" in choices:
        add(f"cutout (n_holes={inp.CUTOUT_N}, length={inp.CUTOUT_LEN})", Cutout(inp.CUTOUT_N, inp.CUTOUT_LEN))
    if "normalize" in choices:
        add(f"normalization (mean={inp.PIXEL_MEAN}, std={inp.PIXEL_STD})", normalize)
    if "gaussian_noise" in choices:
        add(f"gaussian noise (mean={inp.GN_MEAN}, std={inp.GN_STD})", GaussianNoise(inp.GN_MEAN, inp.GN_STD))
    if "instance_norm" in choices:
        add("instance normalization", InstanceNormalization())
    return pipe.compose()


def _build_test(cfg: CfgNode, choices: list, interp: InterpolationMode, normalize: T.Normalize) -> T.Compose:
    print("Building transform_test")
    size = tuple(cfg.INPUT.SIZE)
    pipe = _Pipeline()
    add = pipe.add
    add(f"resize the smaller edge to {max(size)}", T.Resize(max(size), interpolation=interp))
    add(f"{size[0]}x{size[1]} center crop", T.CenterCrop(size))
    add("to torch tensor of range [0, 1]", T.ToTensor())
    if "normalize" in choices:
        add(f"normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})", normalize)
    if "instance_norm" in choices:
        add("instance normalization", InstanceNormalization())
    return pipe.compose()
