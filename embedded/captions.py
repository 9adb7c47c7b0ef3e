"""Caption bank for tiny-CLIP pre-training on HierShapes.

Why captions at every level: zero-shot classification must work for families, shapes
and objects alike, so the text side has to learn each level's names. Colour captions
teach the attribute that, crossed with shape, makes the fine classes.

Because the bank is small, one caption can be true of many images in a batch (a
"circle" caption fits every circle). ``truth[label, caption]`` records this so the
contrastive loss treats every true pair as a positive instead of a negative.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from embedded.hiershapes import COLOURS, leaf_paths

TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a {}.",
    "a picture of a {}.",
    "a drawing of a {}.",
    "an image of a {}.",
)
CAPTION_KINDS: tuple[str, ...] = ("object", "shape", "family", "colour")


def _names(kind: str, family: str, shape: str, leaf: str, colour: str) -> list[str]:
    """The phrases that name one image's class at one level (or its colour)."""
    if kind == "object":
        return [leaf]
    if kind == "shape":
        return [shape]
    if kind == "family":
        return [family, f"{family} shape"]
    return [f"{colour} shape", f"{colour} thing"]


@dataclass(frozen=True)
class CaptionBank:
    """All caption strings, which labels each is true for, and which fit each (label, kind)."""

    texts: tuple[str, ...]
    truth: torch.Tensor  # bool [num_leaves, num_captions]
    choices: dict[tuple[int, str], tuple[int, ...]]  # (label, kind) -> caption indices


def build_caption_bank() -> CaptionBank:
    texts: list[str] = []
    index: dict[str, int] = {}
    true_for: dict[int, set[int]] = {}
    choices: dict[tuple[int, str], tuple[int, ...]] = {}
    for label, (family, shape, leaf) in enumerate(leaf_paths()):
        colour = leaf.split(" ")[0]
        assert colour in COLOURS
        for kind in CAPTION_KINDS:
            picked = []
            for name in _names(kind, family, shape, leaf, colour):
                for template in TEMPLATES:
                    text = template.format(name)
                    if text not in index:
                        index[text] = len(texts)
                        texts.append(text)
                    picked.append(index[text])
                    true_for.setdefault(index[text], set()).add(label)
            choices[(label, kind)] = tuple(picked)
    truth = torch.zeros(len(leaf_paths()), len(texts), dtype=torch.bool)
    for caption, labels in true_for.items():
        truth[sorted(labels), caption] = True
    return CaptionBank(texts=tuple(texts), truth=truth, choices=choices)


def sample_captions(bank: CaptionBank, labels: torch.Tensor, kind_weights: dict[str, float], generator: torch.Generator) -> torch.Tensor:
    """One caption index per image: a level (kind) by ``kind_weights``, then a phrasing uniformly."""
    kinds = list(kind_weights)
    unknown = set(kinds) - set(CAPTION_KINDS)
    if unknown:
        raise KeyError(f"caption_kind_weights: unknown kind(s) {sorted(unknown)}; expected {list(CAPTION_KINDS)}")
    weights = torch.tensor([float(kind_weights[k]) for k in kinds])
    kind_idx = torch.multinomial(weights, len(labels), replacement=True, generator=generator)
    out = torch.empty(len(labels), dtype=torch.long)
    for i, (label, k) in enumerate(zip(labels.tolist(), kind_idx.tolist())):
        options = bank.choices[(label, kinds[k])]
        out[i] = options[int(torch.randint(len(options), (1,), generator=generator))]
    return out
