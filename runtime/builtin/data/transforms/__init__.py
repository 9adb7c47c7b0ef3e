from .ops import Cutout, GaussianNoise, InstanceNormalization, Random2DTranslation
from .transforms import AVAI_CHOICES, INTERPOLATION_MODES, build_transform

__all__ = [
    "AVAI_CHOICES",
    "INTERPOLATION_MODES",
    "build_transform",
    "Cutout",
    "GaussianNoise",
    "InstanceNormalization",
    "Random2DTranslation",
]
