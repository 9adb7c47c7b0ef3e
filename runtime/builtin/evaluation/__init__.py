"""The evaluator registry and base class (``TEST.EVALUATOR`` selects the class; this project's is ``Hierarchical``)."""
from .build import EVALUATOR_REGISTRY, build_evaluator  # isort:skip
from .evaluator import EvaluatorBase

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator", "EvaluatorBase"]
