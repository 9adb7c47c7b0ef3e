"""CoOp (Zhou et al., IJCV 2022) on a hierarchy: learned context shared by the prompts of every node."""
from __future__ import annotations

from torch import nn

from ..common.config_schema import Key
from ..config import LEVEL_WEIGHTS, NAME_STYLE, PREC
from ..engine.trainer import HierarchicalCLIPTrainer
from ..hierarchy import Hierarchy, configured_prompt_names
from ..models.coop import CoOpModel
from ..registry import register_trainer


@register_trainer
class CoOp(HierarchicalCLIPTrainer):
    """Context Optimization with per-level weighted cross-entropy."""

    CFG_KEY = "COOP"
    TABLE_ORDER = 1
    CONFIGS = {"tiny": "tiny_hiershapes", "base2new": "vit_b16_ep50", "paper": "vit_b16_ep50_paper"}

    @classmethod
    def config_section(cls) -> tuple[Key, ...]:
        """``TRAINER.COOP``: its keys, defaults and help (added to the config by ``hgclip.config.extend_cfg``)."""
        return (
            Key("N_CTX", 16, "learned context tokens"),
            Key("CTX_INIT", "", "initial context words: their first `N_CTX` tokens are learned (`\"\"` = random)"),
            Key("CSC", False, "class-specific context, one per class (cannot transfer to new classes)"),
            NAME_STYLE,
            PREC,
            LEVEL_WEIGHTS,
        )

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        names = configured_prompt_names(hierarchy, c.NAME_STYLE, f"TRAINER.{self.CFG_KEY}.NAME_STYLE")
        return CoOpModel(clip_model, names, c.N_CTX, c.CTX_INIT, c.CSC)
