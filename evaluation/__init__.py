"""Hierarchical evaluation: the metric specification, metric functions, decodings, the evaluator and its reports.

* :mod:`.metric_spec`: every metric's key, unit, direction, seed aggregation and printing (read by all below);
* :mod:`.metrics`, :mod:`.decoding`, :mod:`.treecuts`, :mod:`.confusions`, :mod:`.per_class`: the computations;
* :mod:`.hierarchical`: the ``Hierarchical`` evaluator (accumulate and compute), which hands its
  :class:`.scores.Scores` to :mod:`.run_report` (printed report, results.json, confusions.json, plot,
  and on request cmat.json and the per-sample :mod:`.predictions` file);
* :mod:`.aggregate` (seeds, base/new) and :mod:`.comparison_report` (tables across trainers).

Importing this package registers ``Hierarchical`` in the engine's ``EVALUATOR_REGISTRY``
(select it with ``TEST.EVALUATOR = "Hierarchical"``).
"""
from . import confusions, decoding, metric_spec, metrics, treecuts
from .hierarchical import Hierarchical

__all__ = ["Hierarchical", "confusions", "decoding", "metric_spec", "metrics", "treecuts"]
