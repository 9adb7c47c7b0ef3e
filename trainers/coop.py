"""CoOp (Zhou et al., IJCV 2022) on a hierarchy: learned context shared by the prompts of every node."""
from __future__ import annotations

from torch import nn

from ..hierarchy import Hierarchy
from ..models.coop import CoOpModel
from ..registry import register_trainer

from ..engine.trainer import HierarchicalCLIPTrainer


@register_trainer
class CoOp(HierarchicalCLIPTrainer):
    """Context Optimization with per-level weighted cross-entropy."""

    CFG_KEY = "COOP"
    TABLE_ORDER = 1

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        return CoOpModel(clip_model, hierarchy.node_names, c.N_CTX, c.CTX_INIT, c.CSC)
