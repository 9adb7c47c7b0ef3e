"""Caption bank for tiny-CLIP pre-training on HierShapes.

Why captions at every level: zero-shot classification must work for families, shapes
and objects alike, so the text side has to learn each level's names. Colour captions
teach the attribute that, crossed with shape, makes the fine classes.

The bank is small (one phrase per object, shape, family and colour, times a few
templates), so each training step contrasts the images with *every* phrase, each
worded with a randomly drawn template. One phrase is true of many images ("circle"
fits every circle), so ``truth[label, phrase]`` marks all true pairs as positives.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..backbones.openai_clip import clip
from .hiershapes import leaf_paths

tokenize = clip.tokenize

DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a {}.",
    "a picture of a {}.",
    "a drawing of a {}.",
    "an image of a {}.",
)
CAPTION_KINDS: tuple[str, ...] = ("object", "shape", "family", "colour")


def _phrases(kind: str, family: str, shape: str, leaf: str) -> list[str]:
    """The phrases that name one class at one level (or its colour)."""
    colour = leaf[: -len(shape) - 1]
    return {
        "object": [leaf],
        "shape": [shape],
        "family": [family, f"{family} shape"],
        "colour": [f"{colour} shape", f"{colour} thing"],
    }[kind]


@dataclass(frozen=True)
class CaptionBank:
    """Every phrase with its kind, which leaves it is true of, and its tokenised wordings."""

    phrases: tuple[str, ...]
    kinds: tuple[str, ...]  # kind of each phrase
    templates: tuple[str, ...]
    truth: torch.Tensor  # bool [num_leaves, num_phrases]
    tokens: torch.Tensor  # long [num_phrases, num_templates, context_length]

    def text(self, phrase: int, template: int) -> str:
        return self.templates[template].format(self.phrases[phrase])


def build_caption_bank(templates: tuple[str, ...] | list[str] = DEFAULT_TEMPLATES, context_length: int = 77) -> CaptionBank:
    phrases: list[str] = []
    kinds: list[str] = []
    true_for: list[set[int]] = []
    for label, (family, shape, leaf) in enumerate(leaf_paths()):
        for kind in CAPTION_KINDS:
            for phrase in _phrases(kind, family, shape, leaf):
                if phrase not in phrases:
                    phrases.append(phrase)
                    kinds.append(kind)
                    true_for.append(set())
                true_for[phrases.index(phrase)].add(label)
    truth = torch.zeros(len(leaf_paths()), len(phrases), dtype=torch.bool)
    for phrase_idx, labels in enumerate(true_for):
        truth[sorted(labels), phrase_idx] = True
    texts = [template.format(phrase) for phrase in phrases for template in templates]
    tokens = tokenize(texts, context_length=context_length).view(len(phrases), len(templates), context_length)
    return CaptionBank(tuple(phrases), tuple(kinds), tuple(templates), truth, tokens)


def positive_weights(bank: CaptionBank, labels: torch.Tensor, kind_weights: dict[str, float]) -> torch.Tensor:
    """Target distribution over phrases per image [B, num_phrases]; each row sums to 1.

    A kind (level) gets ``kind_weights[kind]`` of the mass, shared equally by the
    phrases of that kind that are true of the image.
    """
    unknown = set(kind_weights) - set(CAPTION_KINDS)
    if unknown:
        raise KeyError(f"caption_kind_weights: unknown kind(s) {sorted(unknown)}; expected {list(CAPTION_KINDS)}")
    truth = bank.truth[labels].float()
    weights = torch.zeros_like(truth)
    for kind, weight in kind_weights.items():
        column = torch.tensor([k == kind for k in bank.kinds])
        of_kind = truth * column
        weights += float(weight) * of_kind / of_kind.sum(1, keepdim=True).clamp_min(1.0)
    return weights / weights.sum(1, keepdim=True)
