"""The embedded default: HierShapes (generated images) and the tiny CLIP pre-trained on them.

Importing the package registers the backbones ``tiny`` and ``tiny-random`` (:mod:`.tiny_clip`).
"""
from . import tiny_clip  # noqa: F401  (registers MODEL.BACKBONE.NAME tiny / tiny-random)
