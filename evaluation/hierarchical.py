"""The ``Hierarchical`` evaluator: accumulates predictions and computes every metric of :mod:`.metric_spec`.

Select it with ``TEST.EVALUATOR = "Hierarchical"`` (the project default). It is a
drop-in Dassl evaluator: ``reset() -> process(mo, gt)* -> evaluate()``, and the
first key of the result is ``accuracy`` (finest-level top-1), which Dassl uses
to select the best epoch. Without a hierarchy it evaluates a flat classifier as
a single level named ``class``, so any Dassl trainer can use it.

This module computes the numbers (:meth:`Hierarchical.compute`); what ``evaluate``
prints and writes (the Dassl-style report, ``results.json``, ``confusions.json``,
``per_level.png``, ``cmat.json``, ``predictions.jsonl``, ``report.html``) lives in :mod:`.run_report`.

Memory stays O(N * (L + number of tree cuts)): every metric that needs all-node
scores (top-5, HCA, hierarchical distance@5, tree-cut accuracy) is reduced to
per-sample values inside :meth:`process`, batch by batch; no logits are kept.
``TEST.SAVE_PREDICTIONS`` adds each level's top-5 classes and scores per sample (O(N * L * 5)).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Optional, Sequence

import torch

from ..config import read_key
from ..hierarchy import Hierarchy
from ..runtime.dassl_api import EVALUATOR_REGISTRY, EvaluatorBase
from . import metric_spec as spec
from . import metrics
from .any_depth_levels import any_depth_level_row
from .decoding import DECODINGS
from .decoding_any_depth import decode_any_depth
from .optional_cfg import int_key
from .per_class import per_class_accuracy
from .predictions import TOP_K, SampleLog
from .run_report import print_report, write_outputs
from .scores import Layout, Scores, class_names
from .treecuts import DROP_RATES, TreeCuts, sample_tree_cuts, treecut_correct

__all__ = ["Hierarchical", "FLAT_LEVEL_NAME", "TOP5_MIN_CLASSES"]

FLAT_LEVEL_NAME = "class"
TOP5_MIN_CLASSES = 6  # top-5 is only informative when a level has more than 5 classes


@EVALUATOR_REGISTRY.register()
class Hierarchical(EvaluatorBase):
    """Hierarchical classification evaluator.

    Args:
        cfg: the experiment config (uses ``OUTPUT_DIR``, ``TEST.TREE_CUTS.{NUM, SEED}``,
            ``TEST.CONFUSIONS_TOP_K``, ``TEST.PLOT_PER_LEVEL``, ``TEST.PER_CLASS_RESULT``,
            ``TEST.COMPUTE_CMAT``, ``TEST.SAVE_PREDICTIONS``, ``TEST.HTML_REPORT`` and, for
            results.json, ``TRAINER.NAME``, ``DATASET.*``, ``SEED``, ``MODEL.BACKBONE.NAME``). A key
            missing from the config (a bare Dassl config) takes the value its declaration in
            ``hgclip/config.py`` gives a missing key (:func:`~hgclip.config.read_key`): its default,
            except ``TEST.CONFUSIONS_TOP_K`` (0, i.e. no confusions.json) and ``TEST.HTML_REPORT``
            (False, i.e. no report.html), so the evaluator stays a drop-in that writes results.json only.
        lab2cname: leaf label -> class name (names the flat classes in confusions.json, cmat.json, ...).
        hierarchy: the dataset's :class:`~hierarchy.Hierarchy`; may also be
            attached later with ``evaluator.hierarchy = h`` (before ``process``).
            ``None`` = flat single-level classifier.
        decoding: how all-node logits become per-level predictions, one of
            :data:`evaluation.decoding.DECODINGS` (default ``"independent"``,
            HGCLIP's per-level argmax).
        tree_metrics: also compute HCA, hP/hR/hF, MTA and hierarchical distance@5
            (default). ``False`` computes only the metrics the evaluator reported
            before them; the benchmark uses it as its baseline.

    Attributes:
        split: name of the evaluated split (default ``"test"``), set by the
            trainer; it names the results file and is stored in it.
        last_results: every metric of the last :meth:`evaluate` (the returned
            Dassl-facing keys, then ``metric_spec.TREE_METRIC_KEYS``).
    """

    def __init__(
        self,
        cfg: Any,
        lab2cname: Optional[dict] = None,
        hierarchy: Optional[Hierarchy] = None,
        decoding: str = "independent",
        tree_metrics: bool = True,
        **kwargs: Any,
    ):
        super().__init__(cfg)
        if decoding not in DECODINGS:
            raise ValueError(
                f"Hierarchical evaluator: unknown decoding {decoding!r}; expected one of {sorted(DECODINGS)}"
            )
        self.cfg = cfg
        self.lab2cname = lab2cname
        self.hierarchy = hierarchy
        self.decoding = decoding
        self.tree_metrics = tree_metrics
        self.num_cuts = int_key(cfg, "TEST.TREE_CUTS.NUM", minimum=0)
        self.cuts_seed = int_key(cfg, "TEST.TREE_CUTS.SEED")
        self.confusions_top_k = int_key(cfg, "TEST.CONFUSIONS_TOP_K", minimum=0)
        self.plot = bool(read_key(cfg, "TEST.PLOT_PER_LEVEL"))
        self.per_class = bool(read_key(cfg, "TEST.PER_CLASS_RESULT"))
        self.compute_cmat = bool(read_key(cfg, "TEST.COMPUTE_CMAT"))
        self.save_predictions = bool(read_key(cfg, "TEST.SAVE_PREDICTIONS"))
        self.html_report = bool(read_key(cfg, "TEST.HTML_REPORT"))
        self.split = "test"
        #: set by the trainer (``num_shots_used``, ``num_processes``); added to results.json
        self.run_info: Optional[dict] = None
        #: set by the trainer: False when the model learned nothing from training images (zero-shot), so that
        #: the HTML report says nothing about shots
        self.trained = True
        self.last_results: "OrderedDict[str, float]" = OrderedDict()
        self._cuts_cache: dict = {}
        self.reset()

    # ------------------------------------------------------------------ accumulation
    def reset(self) -> None:
        """Forget every processed sample (call before evaluating another split)."""
        self._layout: Optional[Layout] = None
        self._preds: list[torch.Tensor] = []  # [B, L] local predictions per batch
        self._targets: list[torch.Tensor] = []  # [B, L] local targets per batch
        self._pred_leaf: list[torch.Tensor] = []  # [B] predicted leaf (on an any-depth tree not preds[:, -1])
        self._labels: list[torch.Tensor] = []  # [B] true leaf
        self._top5: list[torch.Tensor] = []  # [B, L] bool, target within the top 5 of its level
        self._hca: list[torch.Tensor] = []  # [B] bool, right at every node of the true path
        self._hdist5: list[torch.Tensor] = []  # [B] float64, mean LCA height of the top-5 leaves
        self._cut_hits: list[torch.Tensor] = []  # [B, T] bool, right on tree cut t
        self._samples: Optional[SampleLog] = SampleLog() if self.save_predictions else None

    def _layout_for(self, width: int) -> Layout:
        """The layout implied by the current hierarchy, checked against ``width`` and earlier batches."""
        h = self.hierarchy
        if h is not None:
            layout = Layout(tuple(h.level_names), tuple(h.level_sizes), h)
            if width != h.num_nodes:
                raise ValueError(
                    f"Hierarchical evaluator: expected logits over num_nodes={h.num_nodes} "
                    f"({layout.describe()}), got width {width}"
                )
        else:
            layout = Layout((FLAT_LEVEL_NAME,), (width,), None)
        if self._layout is not None and self._layout != layout:
            raise ValueError(
                f"Hierarchical evaluator: this batch has {layout.describe()} but earlier batches had "
                f"{self._layout.describe()}; call reset() after changing the hierarchy"
            )
        return layout

    def tree_cuts(self, hierarchy: Hierarchy) -> TreeCuts:
        """The fixed evaluation cuts of ``hierarchy`` (``TEST.TREE_CUTS``), sampled once and cached."""
        settings, cached = (self.num_cuts, self.cuts_seed), self._cuts_cache
        if cached.get("hierarchy") is hierarchy and cached.get("settings") == settings:
            return cached["cuts"]  # the per-batch path: by identity, since hashing a Hierarchy hashes every path
        if not (cached.get("settings") == settings and cached.get("hierarchy") == hierarchy):
            cached = {"cuts": sample_tree_cuts(hierarchy, *settings)}  # an equal hierarchy keeps its cuts
        self._cuts_cache = {"cuts": cached["cuts"], "hierarchy": hierarchy, "settings": settings}
        return cached["cuts"]

    def process(self, mo: torch.Tensor, gt: torch.Tensor, impaths: Optional[Sequence[str]] = None) -> None:
        """Accumulate one batch.

        Args:
            mo: all-node logits ``[B, num_nodes]`` in the hierarchy's global node
                order (coarse -> fine); ``[B, num_classes]`` in flat mode.
            gt: leaf labels ``[B]``.
            impaths: the batch's image paths (a Dassl batch's ``"impath"``), for the
                predictions file only (``TEST.SAVE_PREDICTIONS``); without them it records
                each sample's position in the evaluated split alone.
        """
        logits = torch.as_tensor(mo).detach().cpu()
        labels = torch.as_tensor(gt).detach().cpu()
        if logits.dim() != 2:
            raise ValueError(
                f"Hierarchical evaluator: expected logits of shape [B, num_nodes], got {tuple(logits.shape)}"
            )
        if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
            raise ValueError(
                f"Hierarchical evaluator: expected {logits.shape[0]} leaf labels of shape [B], "
                f"got {tuple(labels.shape)}"
            )
        layout = self._layout_for(logits.shape[1])
        labels = labels.long()
        num_leaves = layout.hierarchy.num_leaves if layout.hierarchy is not None else layout.level_sizes[-1]
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_leaves):
            raise ValueError(
                f"Hierarchical evaluator: leaf labels must lie in 0..{num_leaves - 1}, "
                f"got range {int(labels.min())}..{int(labels.max())}"
            )
        if impaths is not None and len(impaths) != labels.shape[0]:
            raise ValueError(
                f"Hierarchical evaluator: expected {labels.shape[0]} image paths (one per sample), got {len(impaths)}"
            )

        h = layout.hierarchy
        ragged = h is not None and h.ragged
        if ragged:  # leaves at several depths: the predicted leaf is its own column (decoding_any_depth)
            decoded = decode_any_depth(logits, h, self.decoding)
            scores, preds, pred_leaf = decoded.scores, decoded.preds, decoded.pred_leaf
            targets = h.level_targets(labels)
        elif h is not None:
            decoder = DECODINGS[self.decoding]
            scores = decoder(logits, h)
            preds = decoder.predict(scores, h)
            targets = h.level_targets(labels)
            pred_leaf = preds[:, -1]
        else:
            scores = [logits]
            preds = logits.argmax(dim=1)[:, None]
            targets = labels[:, None]
            pred_leaf = preds[:, 0]
        ranked = [metrics.topk_predictions(s, targets[:, level], TOP_K) for level, s in enumerate(scores)]
        top5 = torch.stack([hit for hit, _, _ in ranked], dim=1)
        leaf_ranked = metrics.topk_predictions(decoded.leaf_scores, labels, TOP_K) if ragged else ranked[-1]
        if self._samples is not None:
            self._samples.add([values for _, values, _ in ranked], [indices for _, _, indices in ranked],
                              impaths, labels.shape[0], leaf=leaf_ranked[1:] if ragged else None)

        self._layout = layout
        self._preds.append(preds)
        self._targets.append(targets)
        self._pred_leaf.append(pred_leaf)
        self._labels.append(labels)
        self._top5.append(top5)
        if not self.tree_metrics:
            return
        if ragged:
            _, leaf_values, leaf_indices = leaf_ranked
            self._hca.append(metrics.hierarchical_consistent_mask(scores, targets, h, leaf_pred=pred_leaf,
                                                                  leaf_scores=decoded.leaf_scores))
            self._hdist5.append(metrics.ranked_hierarchical_distance(leaf_values, leaf_indices, labels, h))
            self._cut_hits.append(treecut_correct(logits, labels, self.tree_cuts(h), h))
        elif h is not None:
            _, leaf_values, leaf_indices = ranked[-1]
            self._hca.append(metrics.hierarchical_consistent_mask(scores, targets, h, leaf_pred=preds[:, -1]))
            self._hdist5.append(metrics.ranked_hierarchical_distance(leaf_values, leaf_indices, labels, h))
            self._cut_hits.append(treecut_correct(logits, labels, self.tree_cuts(h), h))
        else:  # one level: HCA is the leaf top-1 and the class set is the only tree cut
            correct = preds[:, 0] == labels
            self._hca.append(correct)
            self._cut_hits.append(correct[:, None])

    # ------------------------------------------------------------------ results
    def _cut_info(self, layout: Layout, cut_hits: torch.Tensor) -> dict:
        """What results.json records about the tree cuts: settings, sizes and per-cut accuracy (%)."""
        if layout.hierarchy is not None:
            cuts = self.tree_cuts(layout.hierarchy)
            sizes, rates = cuts.sizes, list(cuts.rates)
        else:
            sizes, rates = [layout.level_sizes[0]], []
        accuracies = (100.0 * cut_hits.double().mean(dim=0)).tolist() if cut_hits.shape[0] else [0.0] * len(sizes)
        return {
            "requested": self.num_cuts if layout.hierarchy is not None else 1,
            "num_cuts": len(sizes),
            "seed": self.cuts_seed,
            "drop_rates": list(DROP_RATES),
            "rates": rates,
            "sizes": sizes,
            "accuracies": accuracies,
            "std": float(torch.tensor(accuracies, dtype=torch.float64).std(unbiased=False)) if accuracies else 0.0,
        }

    def compute(self) -> Scores:
        """Every metric of the processed samples (the Dassl-facing ones, then the tree metrics); prints nothing."""
        layout = self._layout
        if layout is None:  # nothing processed: report zeros for the current hierarchy
            h = self.hierarchy
            layout = Layout((FLAT_LEVEL_NAME,), (0,), None) if h is None else Layout(
                tuple(h.level_names), tuple(h.level_sizes), h
            )
        num_levels = len(layout.level_names)
        preds = torch.cat(self._preds) if self._preds else torch.zeros(0, num_levels, dtype=torch.long)
        targets = torch.cat(self._targets) if self._targets else torch.zeros(0, num_levels, dtype=torch.long)
        top5 = torch.cat(self._top5) if self._top5 else torch.zeros(0, num_levels, dtype=torch.bool)
        n = preds.shape[0]
        pred_leaf = torch.cat(self._pred_leaf) if self._pred_leaf else torch.zeros(0, dtype=torch.long)
        true_leaf = torch.cat(self._labels) if self._labels else torch.zeros(0, dtype=torch.long)

        def pct(fraction: float) -> float:
            return 100.0 * fraction

        h = layout.hierarchy
        ragged = h is not None and h.ragged
        per_level: dict[str, dict] = {}
        for level, (name, size) in enumerate(zip(layout.level_names, layout.level_sizes)):
            if ragged:  # each depth over the samples whose true path reaches it
                per_level[name] = any_depth_level_row(preds[:, level], targets[:, level], top5[:, level], size,
                                                      TOP5_MIN_CLASSES)
                continue
            correct = preds[:, level] == targets[:, level]
            top5_hits = top5[:, level]
            per_level[name] = {
                spec.TOP1: pct(correct.double().mean().item()) if n else 0.0,
                spec.TOP5: None if size < TOP5_MIN_CLASSES else (pct(top5_hits.double().mean().item()) if n else 0.0),
                spec.MACRO_F1: pct(metrics.macro_f1(preds[:, level], targets[:, level], num_classes=max(size, 1))),
                spec.NUM_CLASSES: size,
            }

        if ragged:
            lca = h.lca_height_matrix()
            consistency = pct(metrics.path_consistency(preds, h, pred_leaf)) if n else 0.0
            severity = metrics.mistake_severity(pred_leaf, true_leaf, h, lca=lca)
            hdist = metrics.hierarchical_distance_at_1(pred_leaf, true_leaf, h, lca=lca)
        elif h is not None:
            lca = h.lca_height_matrix()
            consistency = pct(metrics.path_consistency(preds, h)) if n else 0.0
            severity = metrics.mistake_severity(preds[:, -1], targets[:, -1], h, lca=lca)
            hdist = metrics.hierarchical_distance_at_1(preds[:, -1], targets[:, -1], h, lca=lca)
        else:  # one level: always a valid path; no tree to measure mistakes in
            consistency = 100.0 if n else 0.0
            severity, hdist = math.nan, math.nan

        results: "OrderedDict[str, float]" = OrderedDict()
        results[spec.ACCURACY] = per_level[layout.level_names[-1]][spec.TOP1]
        if ragged:  # the leaf accuracy, whatever depth the leaves sit at
            results[spec.ACCURACY] = pct(metrics.leaf_accuracy(pred_leaf, true_leaf)) if n else 0.0
        for name in layout.level_names:
            row = per_level[name]
            for metric in spec.PER_LEVEL_METRICS:
                if row[metric.key] is not None:
                    results[spec.level_key(name, metric)] = row[metric.key]
        results[spec.FULL_PATH_ACCURACY] = pct(metrics.full_path_accuracy(preds, targets))
        results[spec.PATH_CONSISTENCY] = consistency
        results[spec.MISTAKE_SEVERITY] = severity
        results[spec.HIERARCHICAL_DISTANCE_AT_1] = hdist
        results[spec.NUM_SAMPLES] = n

        tree: "OrderedDict[str, float]" = OrderedDict()
        cut_record: dict = {}
        if self.tree_metrics:
            hca = torch.cat(self._hca) if self._hca else torch.zeros(0, dtype=torch.bool)
            cut_hits = torch.cat(self._cut_hits) if self._cut_hits else torch.zeros(0, 0, dtype=torch.bool)
            if h is not None:
                hp, hr, hf = metrics.hierarchical_prf(preds, targets, h)
            else:  # one level: the predicted and true "paths" are single nodes
                hp = hr = hf = metrics.full_path_accuracy(preds, targets)
            cut_record = self._cut_info(layout, cut_hits)
            hdist5 = math.nan
            if h is not None and h.num_leaves >= TOP5_MIN_CLASSES and n:
                hdist5 = torch.cat(self._hdist5).mean().item()
            tree[spec.HIERARCHICAL_CONSISTENT_ACCURACY] = pct(hca.double().mean().item()) if n else 0.0
            tree[spec.HIERARCHICAL_PRECISION] = pct(hp)
            tree[spec.HIERARCHICAL_RECALL] = pct(hr)
            tree[spec.HIERARCHICAL_F1] = pct(hf)
            tree[spec.MEAN_TREECUT_ACCURACY] = (
                float(sum(cut_record["accuracies"]) / len(cut_record["accuracies"])) if cut_record["accuracies"] else math.nan
            )
            tree[spec.HIERARCHICAL_DISTANCE_AT_5] = hdist5
        names = class_names(layout, self.lab2cname)
        per_class = per_class_accuracy(preds, targets, layout.level_names, names) if self.per_class else {}
        return Scores(layout, results, tree, per_level, cut_record, preds, targets, names, per_class, self._samples,
                      pred_leaf=pred_leaf, true_leaf=true_leaf)

    def evaluate(self) -> "OrderedDict[str, float]":
        """Compute, print the Dassl-style report, write results.json (and the files asked for), return the metrics.

        Returned keys (Dassl-facing; Dassl selects on the first and logs them all):
        ``accuracy`` (finest top-1, the selection metric), then per level
        ``<level>_top1``, ``<level>_top5`` (levels with more than 5 classes only),
        ``<level>_macro_f1``; then ``full_path_accuracy``, ``path_consistency``
        (all in percent), ``mistake_severity`` and ``hierarchical_distance_at_1``
        (LCA heights; NaN when undefined) and ``num_samples``.

        The tree metrics (``metric_spec.TREE_METRIC_KEYS``: HCA, hP/hR/hF, MTA in percent,
        hierarchical distance@5 as a height) are printed, written to results.json
        and kept with the returned keys in :attr:`last_results`.
        """
        scores = self.compute()
        self.last_results = scores.all_metrics
        print_report(scores)
        write_outputs(self.cfg, scores, self.split, self.decoding, self.confusions_top_k, self.plot,
                      run_info=self.run_info, compute_cmat=self.compute_cmat, html=self.html_report,
                      trained=self.trained)
        return scores.returned
