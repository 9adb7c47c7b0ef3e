"""MaPLe (Khattak et al., CVPR 2023) on a hierarchy: deep language prompts coupled to the vision branch.

The text branch has IVLP-style deep prompts (``N_CTX`` tokens in the first
``PROMPT_DEPTH`` layers); the vision prompts of every layer are a linear
projection of that layer's text prompts (:class:`~hgclip.models.prompt_coupling.PromptCoupling`),
so the vision branch has no prompt parameters of its own.

Deviations from the original (``trainers/maple.py`` of multimodal-prompt-learning):

* classes are all nodes of all levels, loss = per-level weighted CE;
* widths are read from the model (the original hard-codes 512 -> 768, ViT-B only);
* only the learner (text prompts + projections) is registered and checkpointed,
  not the whole CLIP; prompts and projections stay in float32.
"""
from __future__ import annotations

from torch import nn

from ..common.config_schema import Key
from ..config import LEVEL_WEIGHTS, NAME_STYLE, PREC
from ..engine.trainer import HierarchicalCLIPTrainer
from ..hierarchy import Hierarchy, configured_prompt_names
from ..models.maple import MaPLeModel
from ..registry import register_trainer


@register_trainer
class MaPLe(HierarchicalCLIPTrainer):
    """Multi-modal prompt learning with per-level weighted cross-entropy."""

    CFG_KEY = "MAPLE"
    TABLE_ORDER = 4
    CONFIGS = {"tiny": "tiny_hiershapes", "base2new": "vit_b16_c2_ep5_batch4_2ctx", "paper": "vit_b16_ep50_paper"}

    @classmethod
    def config_section(cls) -> tuple[Key, ...]:
        """``TRAINER.MAPLE``: its keys, defaults and help (added to the config by ``hgclip.config.extend_cfg``)."""
        return (
            Key("N_CTX", 2, "learned text prompt tokens per layer; the vision prompts are projections of them"),
            Key("CTX_INIT", "a photo of a", "initial words of the text prompt: their first `N_CTX` tokens are "
                "learned (`\"\"` = random)"),
            NAME_STYLE,
            PREC,
            Key("PROMPT_DEPTH", 9, "prompted layers in both branches (input level + 8 deep)"),
            LEVEL_WEIGHTS,
        )

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        names = configured_prompt_names(hierarchy, c.NAME_STYLE, f"TRAINER.{self.CFG_KEY}.NAME_STYLE")
        return MaPLeModel(clip_model, names, c.N_CTX, c.PROMPT_DEPTH, c.CTX_INIT)
