"""Evaluators selected by ``TEST.EVALUATOR``."""
from .build import EVALUATOR_REGISTRY, build_evaluator  # isort:skip
from .evaluator import Classification, EvaluatorBase

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator", "EvaluatorBase", "Classification"]
