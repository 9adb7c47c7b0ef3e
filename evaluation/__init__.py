"""Hierarchical evaluation: metric functions, decodings and the ``Hierarchical`` evaluator.

Importing this package registers ``Hierarchical`` in ``dassl_compat.EVALUATOR_REGISTRY``
(select it with ``TEST.EVALUATOR = "Hierarchical"``).
"""
from . import confusions, decoding, metrics, treecuts
from .hierarchical import Hierarchical

__all__ = ["Hierarchical", "confusions", "decoding", "metrics", "treecuts"]
