"""Model parts shared by the trainers; each is an ``nn.Module`` usable and testable alone."""
from .graph_encoder import GraphEncoder
from .prototype_attention import PrototypeAttention
from .text_prompts import TextPromptLearner
from .vision_prompts import VisionPromptLearner

__all__ = ["GraphEncoder", "PrototypeAttention", "TextPromptLearner", "VisionPromptLearner"]
