"""CoCoOp (Zhou et al., CVPR 2022) on a hierarchy: image-conditional context for the prompts of every node.

A meta-network maps the (frozen, normalised) image feature to a shift that is
added to every learnable context token, so every image gets its own prompts for
all ``K`` nodes and the text encoder runs on ``B x K`` prompts per batch (hence
CoCoOp's batch size 1 and its cost at test time: nothing can be cached).

Deviations from the original (``trainers/cocoop.py`` of KaiyangZhou/CoOp):

* classes are all nodes of all levels and the loss is the base trainers'
  per-level weighted cross-entropy;
* the text encoder runs on chunks of images (``CoCoOpModel.prompts_per_pass``
  prompts at a time) instead of one image at a time; the result is the same.
  Each image is one group of ``K`` prompts for the fast text encoder: the
  image's shifted context (SOS, ``ctx + pi``, fixed words) is its group's
  shared prefix, run once per image, and only that image's ``K`` prompts attend
  to it (``PromptedTextEncoder`` with ``[b, K, T, d]`` prompts);
* the context and the meta-net are kept in float32 (the frozen CLIP follows
  ``PREC``); the original casts the whole prompt learner to fp16.
"""
from __future__ import annotations

from torch import nn

from ..common.config_schema import Key
from ..config import LEVEL_WEIGHTS, NAME_STYLE, PREC
from ..engine.trainer import HierarchicalCLIPTrainer
from ..hierarchy import Hierarchy, configured_prompt_names
from ..models.cocoop import CoCoOpModel
from ..registry import register_trainer


@register_trainer
class CoCoOp(HierarchicalCLIPTrainer):
    """Conditional Context Optimization with per-level weighted cross-entropy."""

    CFG_KEY = "COCOOP"
    TABLE_ORDER = 2
    CONFIGS = {"tiny": "tiny_hiershapes", "base2new": "vit_b16_c4_ep10_batch1_ctxv1", "paper": "vit_b16_ep50_paper"}

    @classmethod
    def config_section(cls) -> tuple[Key, ...]:
        """``TRAINER.COCOOP``: its keys, defaults and help (added to the config by ``hgclip.config.extend_cfg``)."""
        return (
            Key("N_CTX", 4, "learned context tokens, shifted per image by a meta-net (4: CoCoOp's published config, "
                "`vit_b16_c4_ep10_batch1_ctxv1`)"),
            Key("CTX_INIT", "a photo of a", "initial context words: their first `N_CTX` tokens are learned "
                "(`\"\"` = random)"),
            NAME_STYLE,
            PREC,
            LEVEL_WEIGHTS,
        )

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        c = self.trainer_cfg
        names = configured_prompt_names(hierarchy, c.NAME_STYLE, f"TRAINER.{self.CFG_KEY}.NAME_STYLE")
        return CoCoOpModel(clip_model, names, c.N_CTX, c.CTX_INIT)
