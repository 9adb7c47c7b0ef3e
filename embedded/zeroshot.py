"""Zero-shot accuracy of a CLIP at every HierShapes level.

Why here: the tiny CLIP's pre-training is tuned so that zero-shot is useful but not
saturated at every level; this is the measurement used by the CLI and the slow test.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backbones.openai_clip import clip
from .hiershapes import LEVEL_NAMES, leaf_paths, load_split
from .pretrain import load_images, normalize

CLIP, tokenize = clip.model.CLIP, clip.tokenize


@torch.no_grad()
def zero_shot_accuracy(
    model: CLIP,
    dataset_dir: str,
    preprocess: dict,
    split: str = "test",
    template: str = "a photo of a {}.",
    batch_size: int = 256,
) -> dict[str, float]:
    """Top-1 accuracy (in %) per level name, each level classified on its own by argmax."""
    items = load_split(dataset_dir)[split]
    size = model.visual.input_resolution
    images = load_images([path for path, _, _ in items], resize_to=size)
    labels = torch.tensor([label for _, label, _ in items])
    paths = leaf_paths()
    model.eval()
    feats = torch.cat([
        F.normalize(model.encode_image(normalize(images[i:i + batch_size], preprocess["mean"], preprocess["std"])), dim=-1)
        for i in range(0, len(images), batch_size)
    ])
    result: dict[str, float] = {}
    for level, level_name in enumerate(LEVEL_NAMES):
        names = list(dict.fromkeys(path[level] for path in paths))
        leaf_to_node = torch.tensor([names.index(path[level]) for path in paths])
        text = F.normalize(model.encode_text(tokenize([template.format(n) for n in names], context_length=model.context_length)), dim=-1)
        pred = (feats @ text.t()).argmax(dim=1)
        result[level_name] = 100.0 * float((pred == leaf_to_node[labels]).float().mean())
    return result
