"""VPT-deep on CLIP (as the VPT baseline of MaPLe's paper): learned vision prompts, frozen hand-crafted text.

Every node's text feature is CLIP's feature of ``"<CTX_INIT> <name>."``
("a photo of a <name>."), computed once at build time without gradient; the
only parameters are ``N_CTX_VISION`` prompt tokens in the first
``PROMPT_DEPTH_VISION`` vision layers.

Deviations from the original (``trainers/vpt.py`` of multimodal-prompt-learning):
classes are all nodes of all levels, loss = per-level weighted CE, and only the
vision prompts are registered and checkpointed (not the whole CLIP).
"""
from __future__ import annotations

from torch import nn

from ..common.config_schema import Key
from ..config import LEVEL_WEIGHTS, NAME_STYLE, PREC
from ..engine.trainer import HierarchicalCLIPTrainer
from ..hierarchy import Hierarchy, configured_prompt_names
from ..models.vpt import VPTModel
from ..registry import register_trainer


@register_trainer
class VPT(HierarchicalCLIPTrainer):
    """Deep visual prompt tuning with per-level weighted cross-entropy."""

    CFG_KEY = "VPT"
    TABLE_ORDER = 3
    CONFIGS = {"tiny": "tiny_hiershapes", "base2new": "vit_b16_c2_ep5_batch4_4", "paper": "vit_b16_ep50_paper"}

    @classmethod
    def config_section(cls) -> tuple[Key, ...]:
        """``TRAINER.VPT``: its keys, defaults and help (added to the config by ``hgclip.config.extend_cfg``)."""
        return (
            Key("N_CTX_VISION", 8, "learned vision prompt tokens per prompted layer (8: MaPLe's VPT config, "
                "`vit_b16_c2_ep5_batch4_4`)"),
            Key("PROMPT_DEPTH_VISION", 12, "prompted layers of the image encoder (VPT-deep: vision prompts only)"),
            Key("CTX_INIT", "a photo of a", "the frozen text prompt: `<CTX_INIT> <name>.`"),
            NAME_STYLE,
            PREC,
            LEVEL_WEIGHTS,
        )

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        names = configured_prompt_names(hierarchy, c.NAME_STYLE, f"TRAINER.{self.CFG_KEY}.NAME_STYLE")
        return VPTModel(clip_model, names, c.N_CTX_VISION, c.PROMPT_DEPTH_VISION, c.CTX_INIT)
