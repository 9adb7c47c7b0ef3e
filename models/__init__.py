"""The ``nn.Module``s (``hgclip.models``): each method's model and the parts they share.

Every model here is built from a frozen ``clip.model.CLIP`` plus plain arguments (class
names, sizes, settings dataclasses) and can be built and tested without a trainer, a
config or a dataset. Trainable parameters live in the model's ``learner`` sub-module.

Parts: :class:`TextPromptLearner`, :class:`VisionPromptLearner`, :class:`GraphEncoder`,
:class:`PrototypeAttention`, :class:`MetaNet` (CoCoOp), :class:`PromptCoupling` (MaPLe),
:func:`handcrafted_text_features` (a function: frozen features of hand-crafted prompts)
and the evaluation cache mixin :class:`CachedTextModel`.
"""
from .cached import CachedTextModel
from .cocoop import CoCoOpModel
from .coop import CoOpModel
from .deep_prompt import DeepPromptCLIP
from .graph_encoder import GraphEncoder
from .handcrafted import handcrafted_text_features
from .hgclip import HGCLIPModel, HGCLIPSettings
from .kgcoop import KgCoOpModel
from .maple import MaPLeModel
from .meta_net import MetaNet
from .prompt_coupling import PromptCoupling
from .promptsrc import PromptSRCModel
from .prototype_attention import PrototypeAttention
from .text_prompts import TextPromptLearner
from .vision_prompts import VisionPromptLearner
from .vpt import VPTModel
from .zeroshot import ZeroshotCLIPModel

__all__ = [
    "CachedTextModel", "CoCoOpModel", "CoOpModel", "DeepPromptCLIP", "GraphEncoder", "HGCLIPModel", "HGCLIPSettings",
    "KgCoOpModel", "MaPLeModel", "MetaNet", "PromptCoupling", "PromptSRCModel", "PrototypeAttention",
    "TextPromptLearner", "VPTModel", "VisionPromptLearner", "ZeroshotCLIPModel", "handcrafted_text_features",
]
