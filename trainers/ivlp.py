"""IVLP (independent deep vision-language prompts, from MaPLe's paper) on a hierarchy: the prompts HGCLIP builds on."""
from __future__ import annotations

from torch import nn

from ..common.config_schema import Key
from ..config import deep_prompt_keys
from ..engine.trainer import HierarchicalCLIPTrainer
from ..hierarchy import Hierarchy, configured_prompt_names
from ..models.deep_prompt import DeepPromptCLIP
from ..registry import register_trainer


@register_trainer
class IVLP(HierarchicalCLIPTrainer):
    """Independent vision-language deep prompting on every node of the hierarchy."""

    CFG_KEY = "IVLP"
    TABLE_ORDER = 7
    CONFIGS = {"tiny": "tiny_hiershapes", "base2new": "vit_b16_c2_ep5_batch4_2+2ctx", "paper": "vit_b16_ep50_paper"}

    @classmethod
    def config_section(cls) -> tuple[Key, ...]:
        """``TRAINER.IVLP``: its keys, defaults and help (added to the config by ``hgclip.config.extend_cfg``)."""
        return deep_prompt_keys(2, 2, 9, 9, "a photo of a")

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        names = configured_prompt_names(hierarchy, c.NAME_STYLE, f"TRAINER.{self.CFG_KEY}.NAME_STYLE")
        return DeepPromptCLIP(clip_model, names, c.N_CTX_TEXT, c.N_CTX_VISION,
                              c.PROMPT_DEPTH_TEXT, c.PROMPT_DEPTH_VISION, c.CTX_INIT)
