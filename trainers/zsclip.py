"""Zero-shot CLIP per level: every node is scored with the dataset's hand-crafted templates."""
from __future__ import annotations

from torch import nn

from ..common.config_schema import Key
from ..config import NAME_STYLE, PREC
from ..datasets.templates import dataset_templates_path, load_level_templates
from ..engine.trainer import HierarchicalCLIPTrainer
from ..hierarchy import Hierarchy, configured_prompt_names
from ..models.zeroshot import ZeroshotCLIPModel
from ..registry import register_trainer


@register_trainer
class ZeroshotCLIP(HierarchicalCLIPTrainer):
    """Zero-shot CLIP on every level of the hierarchy (run it with ``--eval-only``)."""

    CFG_KEY = "ZEROSHOTCLIP"
    TABLE_ORDER = 0
    HAS_PARAMETERS = False
    CONFIGS = {"tiny": "tiny", "base2new": "vit_b16", "paper": "vit_b16"}  # one ViT-B/16 config: nothing to train

    @classmethod
    def config_section(cls) -> tuple[Key, ...]:
        """``TRAINER.ZEROSHOTCLIP``: its keys, defaults and help (added to the config by ``hgclip.config.extend_cfg``)."""
        return (
            Key("TEMPLATES_FILE", "", "templates JSON; `\"\"` = `DATASET.TEMPLATES_FILE`, else "
                "`configs/templates/<DATASET.DISPLAY_NAME or NAME>.json`, else `configs/templates/default.json`"),
            NAME_STYLE,
            PREC,
        )

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        path = dataset_templates_path(self.cfg, self.trainer_cfg.TEMPLATES_FILE)
        print(f"Zero-shot templates: {path}")
        level_templates = load_level_templates(path, hierarchy)
        c = self.trainer_cfg
        names = configured_prompt_names(hierarchy, c.NAME_STYLE, f"TRAINER.{self.CFG_KEY}.NAME_STYLE")
        return ZeroshotCLIPModel(clip_model, names,
                                 [level_templates[level] for level in hierarchy.node_levels])

    def train(self, *args, **kwargs) -> None:  # noqa: D102 - nothing to learn
        print("ZeroshotCLIP has no parameters to train; evaluating instead")
        self.test()

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Nothing to load: the model is the frozen CLIP."""
