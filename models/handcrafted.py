"""Frozen text features of hand-crafted prompts ("a photo of a {}."), the anchor of VPT, KgCoOp and PromptSRC."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones.openai_clip import clip
from ..backbones.prompted_clip import context_length, encode_text_plain
from ..runtime.distributed import compute_on_main


def handcrafted_text_features(
    clip_model: nn.Module, class_names: Sequence[str], templates: Sequence[Sequence[str]], chunk: int = 512
) -> Tensor:
    """L2-normalised zero-shot text feature of every class ``[K, D]`` (float32, no gradient).

    ``templates[k]`` lists the templates of class ``k`` (each with one ``{}``);
    with several templates the normalised features are averaged and normalised
    again (CLIP's prompt ensembling). With several processes (torchrun) rank 0
    computes them once and the others receive them.
    """
    return compute_on_main(lambda: _handcrafted_text_features(clip_model, class_names, templates, chunk))


@torch.no_grad()
def _handcrafted_text_features(
    clip_model: nn.Module, class_names: Sequence[str], templates: Sequence[Sequence[str]], chunk: int
) -> Tensor:
    if len(templates) != len(class_names):
        raise ValueError(f"got {len(templates)} template lists for {len(class_names)} classes")
    prompts: list[str] = []
    owner: list[int] = []
    for k, (name, class_templates) in enumerate(zip(class_names, templates)):
        if not class_templates:
            raise ValueError(f"class {name!r} has no templates")
        for template in class_templates:
            if "{}" not in template:
                raise ValueError(f"template {template!r} has no '{{}}' placeholder for the class name")
            prompts.append(template.format(name))
            owner.append(k)
    length = context_length(clip_model)
    try:
        tokens = clip.tokenize(prompts, context_length=length)
    except RuntimeError as error:
        raise ValueError(f"a hand-crafted prompt does not fit in CLIP's {length}-token context: {error}") from None
    features = torch.cat([
        F.normalize(encode_text_plain(clip_model, tokens[i : i + chunk]).float(), dim=-1)
        for i in range(0, len(prompts), chunk)
    ])
    index = torch.tensor(owner, device=features.device)
    summed = torch.zeros(len(class_names), features.shape[1], device=features.device).index_add_(0, index, features)
    return F.normalize(summed, dim=-1)
