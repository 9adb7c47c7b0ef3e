"""Inputs of the benchmark: class-name sets, hierarchies and randomly initialised CLIP towers.

Everything is generated from a seed or read from ``benchmarks/data``, so that two runs of
``cli/bench.py`` time the same work and no weights or datasets are needed.
"""
from __future__ import annotations

import json
import os.path as osp
import random
from dataclasses import dataclass

import torch
from torch import nn

from ..hierarchy import Hierarchy, load_hierarchy

DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), "data")
CIFAR100_HIERARCHY = osp.join(DATA_DIR, "cifar100_hierarchy.txt")
TINY_CLIP_JSON = osp.join(osp.dirname(DATA_DIR), "..", "embedded", "tiny_clip.json")

#: ETHEC's level sizes (family, subfamily, genus, species), 723 nodes.
ETHEC_LEVELS = ("family", "subfamily", "genus", "species")
ETHEC_SIZES = (6, 21, 135, 561)


@dataclass(frozen=True)
class TowerDims:
    """Keyword arguments of ``clip.model.CLIP`` (the published architecture of a backbone)."""

    embed_dim: int
    image_resolution: int
    vision_layers: int
    vision_width: int
    vision_patch_size: int
    context_length: int
    vocab_size: int
    transformer_width: int
    transformer_heads: int
    transformer_layers: int


#: The architectures of OpenAI's ViT CLIPs (from their checkpoints' shapes), and the embedded tiny CLIP.
BACKBONES: dict[str, TowerDims] = {
    "ViT-B/16": TowerDims(512, 224, 12, 768, 16, 77, 49408, 512, 8, 12),
    "ViT-B/32": TowerDims(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12),
    "ViT-L/14": TowerDims(768, 224, 24, 1024, 14, 77, 49408, 768, 12, 12),
}


def backbone_dims(name: str, layers: int = 0) -> TowerDims:
    """Dims of ``name`` (``tiny`` = ``embedded/tiny_clip.json``); ``layers > 0`` caps both towers' depth."""
    if name == "tiny":
        with open(osp.normpath(TINY_CLIP_JSON), encoding="utf-8") as handle:
            m = json.load(handle)["model"]
        dims = TowerDims(m["embed_dim"], m["image_resolution"], m["vision_layers"], m["vision_width"],
                         m["vision_patch_size"], m["context_length"], m["vocab_size"], m["transformer_width"],
                         m["transformer_heads"], m["transformer_layers"])
    elif name in BACKBONES:
        dims = BACKBONES[name]
    else:
        raise ValueError(f"--backbone must be one of {sorted(BACKBONES) + ['tiny']}, got {name!r}")
    if layers > 0:
        dims = TowerDims(**{**dims.__dict__, "vision_layers": min(layers, dims.vision_layers),
                            "transformer_layers": min(layers, dims.transformer_layers)})
    return dims


def random_tower(dims: TowerDims, seed: int = 0) -> nn.Module:
    """A stock ``clip.model.CLIP`` with ``dims``, random weights, fp32, eval mode, frozen."""
    from ..backbones.openai_clip import clip
    CLIP = clip.model.CLIP

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CLIP(*dims.__dict__.values())
    return model.float().eval().requires_grad_(False)


# ---------------------------------------------------------------------- names
_ONSETS = ["", "b", "c", "ch", "d", "f", "g", "h", "l", "m", "n", "p", "ph", "r", "s", "t", "th", "v", "z", "st", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ae", "ia", "io", "y"]
_CODAS = ["", "", "", "n", "r", "s", "l", "m", "x"]
_GENUS_ENDINGS = ["a", "us", "ia", "is", "ops", "ius", "ella", "ina", "odes", "ura"]
_EPITHET_ENDINGS = ["a", "us", "is", "um", "ae", "i", "ensis", "ella", "ides", "alis", "ana", "ica"]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))


def _unique(rng: random.Random, make, taken: set) -> str:
    while True:
        name = make(rng)
        if name not in taken and len(name) > 2:
            taken.add(name)
            return name


def _tree(level_names: tuple[str, ...], sizes: tuple[int, ...], names: list[list[str]], rng: random.Random) -> Hierarchy:
    """Attach every node of level l+1 to a random node of level l (every parent gets at least one child)."""
    parents: list[list[int]] = []
    for level in range(1, len(sizes)):
        assignment = list(range(sizes[level - 1])) + [rng.randrange(sizes[level - 1])
                                                      for _ in range(sizes[level] - sizes[level - 1])]
        rng.shuffle(assignment)
        parents.append(sorted(assignment))
    paths = []
    for leaf in range(sizes[-1]):
        path, node = [names[-1][leaf]], leaf
        for level in range(len(sizes) - 1, 0, -1):
            node = parents[level - 1][node]
            path.append(names[level - 1][node])
        paths.append(path[::-1])
    return Hierarchy(level_names, paths)


def scaled_sizes(sizes: tuple[int, ...], total: int) -> tuple[int, ...]:
    """``sizes`` scaled to about ``total`` nodes, non-decreasing from coarse to fine, each >= 1."""
    scale = total / sum(sizes)
    out = []
    for size in sizes:
        out.append(max(1, round(size * scale), out[-1] if out else 1))
    out[-1] = max(out[-2] if len(out) > 1 else 1, total - sum(out[:-1]))
    return tuple(out)


def ethec_like_hierarchy(total: int = sum(ETHEC_SIZES), seed: int = 0) -> Hierarchy:
    """An ETHEC-shaped butterfly taxonomy with generated Latin names: ``family > subfamily > genus > species``.

    Families end in ``-idae``, subfamilies in ``-inae``; species are binomials
    ``"Genus epithet"`` as in ETHEC when keyed by the full binomial.
    Level sizes are ETHEC's (6/21/135/561) scaled to ``total`` nodes.
    """
    rng = random.Random(seed)
    sizes = scaled_sizes(ETHEC_SIZES, total)
    taken: set = set()
    families = [_unique(rng, lambda r: _word(r, r.randint(2, 3)).capitalize() + "idae", taken) for _ in range(sizes[0])]
    subfamilies = [_unique(rng, lambda r: _word(r, r.randint(2, 3)).capitalize() + "inae", taken) for _ in range(sizes[1])]
    genera = [_unique(rng, lambda r: (_word(r, r.randint(1, 3)) + r.choice(_GENUS_ENDINGS)).capitalize(), taken)
              for _ in range(sizes[2])]
    hierarchy = _tree(ETHEC_LEVELS[:3], sizes[:3], [families, subfamilies, genera], rng)
    genus_paths = {path[-1]: path for path in hierarchy.paths}
    # species: binomials whose genus is their parent; every genus gets at least one
    genus_of = list(genera) + [rng.choice(genera) for _ in range(sizes[3] - sizes[2])]
    rng.shuffle(genus_of)
    epithets: set = set()
    paths = []
    for genus in genus_of:
        epithet = _unique(rng, lambda r: _word(r, r.randint(1, 3)) + r.choice(_EPITHET_ENDINGS), epithets)
        paths.append(list(genus_paths[genus]) + [f"{genus} {epithet}"])
    return Hierarchy(ETHEC_LEVELS, paths)


def synthetic_hierarchy(total: int, seed: int = 0) -> Hierarchy:
    """A 3-level hierarchy of about ``total`` nodes with generated English-like names of 1-3 words.

    Level sizes follow ImageNet-like ratios (about 2% / 15% / 83% of the nodes).
    """
    rng = random.Random(seed)
    coarse = max(2, round(total * 0.02))
    middle = max(coarse, round(total * 0.15))
    sizes = (coarse, middle, max(middle, total - coarse - middle))
    taken: set = set()
    names = [[_unique(rng, lambda r, w=words: " ".join(_word(r, r.randint(1, 3)) for _ in range(r.randint(*w))), taken)
              for _ in range(size)] for size, words in zip(sizes, [(1, 2), (1, 2), (1, 3)])]
    return _tree(("coarse", "middle", "fine"), sizes, names, rng)


def cifar100_hierarchy() -> Hierarchy:
    """CIFAR-100's 20 superclasses > 100 classes, the real names (``benchmarks/data``)."""
    return load_hierarchy(CIFAR100_HIERARCHY)
