"""The tiny CLIP: an openai ``clip.model.CLIP`` small enough to pre-train on 2 CPU cores.

Why: the project's default run needs a pre-trained vision-language model and there is
no network. The architecture is data (``tiny_clip.json``, the keyword arguments of
``clip.model.CLIP``), so the same class and tokenizer as ViT-B/16 are used and every
prompt-learning module works unchanged.

Pre-trained weights live outside the repository, in ``$HGCLIP_CACHE`` (default
``~/.cache/hgclip``) under ``tiny_clip/<key>.pt``. The key hashes the architecture,
the pre-training settings and the HierShapes generator version, so changing any of
them rebuilds the weights instead of silently reusing stale ones.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os

import torch

from ..backbones.clip_loader import register_local_backbone
from ..backbones.openai_clip import clip
from ..common.fileio import atomic_torch_save
from ..common.paths import cache_dir
from . import pretrain as _pretrain
from .hiershapes import GENERATOR_VERSION, ensure_hiershapes

CLIP = clip.model.CLIP

CONFIG_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_clip.json")
PRETRAIN_CODE_VERSION = 2  # bump when embedded/pretrain.py changes what it produces (2: seeded init)
_SECTIONS = ("model", "pretraining", "preprocess")


def load_tiny_config(path: str = CONFIG_PATH) -> dict:
    """Read the tiny-CLIP JSON (sections: model, pretraining, preprocess)."""
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    missing = [key for key in _SECTIONS if key not in config]
    if missing:
        raise KeyError(f"{path}: missing section(s) {missing}; expected {list(_SECTIONS)}")
    return config


def default_cache_dir() -> str:
    return cache_dir()


def cache_key(config: dict) -> str:
    """Short sha256 of everything that determines the pre-trained weights."""
    payload = {
        "model": config["model"],
        "pretraining": config["pretraining"],
        "preprocess": config["preprocess"],
        "hiershapes_version": GENERATOR_VERSION,
        "pretrain_code_version": PRETRAIN_CODE_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def cache_path(config: dict | None = None, cache_dir: str | None = None) -> str:
    config = load_tiny_config() if config is None else config
    return os.path.join(cache_dir or default_cache_dir(), "tiny_clip", f"{cache_key(config)}.pt")


def new_tiny_clip(config: dict | None = None) -> CLIP:
    """Random-initialised tiny CLIP (fp32, CPU, eval mode)."""
    config = load_tiny_config() if config is None else config
    try:
        model = CLIP(**config["model"])
    except TypeError as exc:
        raise TypeError(f"tiny CLIP 'model' section does not match clip.model.CLIP's arguments: {exc}") from None
    return model.float().eval()


def pretrain_and_cache(config: dict, path: str, data_root: str, progress: bool = True) -> dict:
    """Pre-train a fresh tiny CLIP on HierShapes and write it atomically to ``path``."""
    settings = config["pretraining"]
    dataset_dir = ensure_hiershapes(data_root, seed=int(settings["hiershapes_seed"]))
    print(f"pretraining tiny CLIP (cached at {path}), ~{settings.get('expected_minutes', '?')} min on 2 CPU cores", flush=True)
    # The caller's random state is left untouched, and the result depends only on the
    # settings: the initialisation and the training draw from torch_seed alone.
    with torch.random.fork_rng():
        torch.manual_seed(int(settings["torch_seed"]))
        model = new_tiny_clip(config)
        stats = _pretrain.pretrain_clip(model, settings, config["preprocess"], dataset_dir, progress=progress)
    atomic_torch_save({"key": cache_key(config), "config": copy.deepcopy(config), "stats": stats, "state_dict": model.state_dict()}, path)
    return stats


def build_tiny_clip(
    pretrained: bool = True,
    cache_dir: str | None = None,
    data_root: str | None = None,
    config: dict | None = None,
    force: bool = False,
) -> CLIP:
    """Return the tiny CLIP (fp32, CPU, eval mode).

    pretrained=False: random init (fast; for unit tests). pretrained=True: load the
    cached weights, pre-training them first when missing (or when ``force``).
    data_root: where HierShapes is generated for pre-training (default ``<cache>/data``).
    """
    config = load_tiny_config() if config is None else config
    if not pretrained:
        return new_tiny_clip(config)
    cache_dir = cache_dir or default_cache_dir()
    path = cache_path(config, cache_dir)
    if force or not os.path.isfile(path):
        pretrain_and_cache(config, path, data_root or os.path.join(cache_dir, "data"))
    model = new_tiny_clip(config)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
    except Exception as error:  # a truncated or foreign file: pre-train again (the result is the same, seeded)
        print(f"Warning: the cached tiny CLIP {path} cannot be read ({type(error).__name__}); pre-training it again")
        pretrain_and_cache(config, path, data_root or os.path.join(cache_dir, "data"))
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
    return model.eval()


def _pretrained_tiny_clip() -> CLIP:
    return build_tiny_clip(pretrained=True)


def _random_tiny_clip() -> CLIP:
    """The same weights at every call: a fixed seed, without touching the caller's RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_tiny_clip(pretrained=False)


# MODEL.BACKBONE.NAME tiny / tiny-random (the backbones layer knows them only through its registry)
register_local_backbone("tiny", _pretrained_tiny_clip)
register_local_backbone("tiny-random", _random_tiny_clip)
