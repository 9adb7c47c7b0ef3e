"""The ``Hierarchical`` evaluator: per-level, full-path, consistency, severity and tree metrics.

Select it with ``TEST.EVALUATOR = "Hierarchical"`` (the project default). It is a
drop-in Dassl evaluator: ``reset() -> process(mo, gt)* -> evaluate()``, and the
first key of the result is ``accuracy`` (finest-level top-1), which Dassl uses
to select the best epoch. Without a hierarchy it evaluates a flat classifier as
a single level named ``class``, so any Dassl trainer can use it.

Output (Dassl style, so CoOp-style ``parse_test_res.py --keyword <key>`` works):
``=> result``, a per-level table, then ``* total: N`` and ``* <key>: x.x%`` lines.
With ``cfg.OUTPUT_DIR`` set, ``results.json`` and ``confusions.json``
(``results_<split>.json`` / ``confusions_<split>.json`` for a split other than
``test``) are written atomically, and ``per_level.png`` when ``TEST.PLOT_PER_LEVEL``.

Memory stays O(N * (L + number of tree cuts)): every metric that needs all-node
scores (top-5, HCA, hierarchical distance@5, tree-cut accuracy) is reduced to
per-sample values inside :meth:`process`, batch by batch; no logits are kept.
"""
from __future__ import annotations

import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import torch
from tabulate import tabulate

from ..engine.dassl_api import EVALUATOR_REGISTRY, EvaluatorBase
from ..hierarchy import Hierarchy
from ..common.fileio import atomic_write_json

from ..common.fileio import atomic_write_bytes

from . import metrics
from .confusions import confusion_summary
from .decoding import DECODINGS
from .treecuts import DROP_RATES, TreeCuts, sample_tree_cuts, treecut_correct

__all__ = ["Hierarchical", "FLAT_LEVEL_NAME", "TOP5_MIN_CLASSES", "TREE_METRIC_KEYS", "HEIGHT_KEYS"]

FLAT_LEVEL_NAME = "class"
TOP5_MIN_CLASSES = 6  # top-5 is only informative when a level has more than 5 classes
DEFAULT_NUM_CUTS = 25  # ProTeCt's number of evaluation tree cuts
#: without ``TEST.CONFUSIONS_TOP_K`` (a bare Dassl config) no confusions.json is written, so the
#: evaluator stays a drop-in that writes results.json only; hgclip/config.py sets 10.
DEFAULT_CONFUSIONS_TOP_K = 0
#: keys this evaluator adds after the Dassl-facing ones (see ``Hierarchical.evaluate``)
TREE_METRIC_KEYS = (
    "hierarchical_consistent_accuracy",
    "hierarchical_precision",
    "hierarchical_recall",
    "hierarchical_f1",
    "mean_treecut_accuracy",
    "hierarchical_distance_at_5",
)
#: LCA heights, not percentages
HEIGHT_KEYS = ("mistake_severity", "hierarchical_distance_at_1", "hierarchical_distance_at_5")


@dataclass(frozen=True)
class _Layout:
    """What the accumulated predictions refer to; fixed by the first ``process`` call."""

    level_names: tuple[str, ...]
    level_sizes: tuple[int, ...]
    hierarchy: Optional[Hierarchy]

    @property
    def num_nodes(self) -> int:
        return sum(self.level_sizes)

    def describe(self) -> str:
        return ", ".join(f"{n}={s}" for n, s in zip(self.level_names, self.level_sizes))


def _metric_key(level_name: str) -> str:
    """A level name as a metric-key prefix: no spaces, so ``* <key>: x%`` stays parseable."""
    return re.sub(r"\W+", "_", level_name).strip("_") or "level"


def _cfg_get(cfg: Any, dotted: str, default: Any = None) -> Any:
    """``cfg.A.B`` or ``default`` when any part is missing (the evaluator must not need every key)."""
    node = cfg
    for part in dotted.split("."):
        if node is None or not hasattr(node, part):
            return default
        node = getattr(node, part)
    return node


def _int_key(cfg: Any, dotted: str, default: int, minimum: Optional[int] = None) -> int:
    """An integer config key (``default`` when absent), with a one-line error when it is not one."""
    value = _cfg_get(cfg, dotted, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{dotted}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{dotted}: expected an integer >= {minimum}, got {value}")
    return value


def _json_number(value: Optional[float]) -> Optional[float]:
    """Round for results.json; NaN (undefined) and ``None`` become ``null``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 4)


@EVALUATOR_REGISTRY.register()
class Hierarchical(EvaluatorBase):
    """Hierarchical classification evaluator.

    Args:
        cfg: the experiment config (uses ``OUTPUT_DIR``, ``TEST.TREE_CUTS.{NUM, SEED}``,
            ``TEST.CONFUSIONS_TOP_K``, ``TEST.PLOT_PER_LEVEL`` and, for results.json,
            ``TRAINER.NAME``, ``DATASET.*``, ``SEED``, ``MODEL.BACKBONE.NAME``). A key
            missing from the config (a bare Dassl config) takes its ``hgclip/config.py``
            value, except ``TEST.CONFUSIONS_TOP_K``: 0 there, i.e. no confusions.json.
        lab2cname: leaf label -> class name (names the flat classes in confusions.json).
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
            Dassl-facing keys, then :data:`TREE_METRIC_KEYS`).
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
        self.num_cuts = _int_key(cfg, "TEST.TREE_CUTS.NUM", DEFAULT_NUM_CUTS, minimum=0)
        self.cuts_seed = _int_key(cfg, "TEST.TREE_CUTS.SEED", 0)
        self.confusions_top_k = _int_key(cfg, "TEST.CONFUSIONS_TOP_K", DEFAULT_CONFUSIONS_TOP_K, minimum=0)
        self.plot = bool(_cfg_get(cfg, "TEST.PLOT_PER_LEVEL", False))
        self.split = "test"
        self.last_results: "OrderedDict[str, float]" = OrderedDict()
        self._cuts_cache: dict = {}
        self.reset()

    # ------------------------------------------------------------------ accumulation
    def reset(self) -> None:
        """Forget every processed sample (call before evaluating another split)."""
        self._layout: Optional[_Layout] = None
        self._preds: list[torch.Tensor] = []  # [B, L] local predictions per batch
        self._targets: list[torch.Tensor] = []  # [B, L] local targets per batch
        self._top5: list[torch.Tensor] = []  # [B, L] bool, target within the top 5 of its level
        self._hca: list[torch.Tensor] = []  # [B] bool, right at every node of the true path
        self._hdist5: list[torch.Tensor] = []  # [B] float64, mean LCA height of the top-5 leaves
        self._cut_hits: list[torch.Tensor] = []  # [B, T] bool, right on tree cut t

    def _layout_for(self, width: int) -> _Layout:
        """The layout implied by the current hierarchy, checked against ``width`` and earlier batches."""
        h = self.hierarchy
        if h is not None:
            layout = _Layout(tuple(h.level_names), tuple(h.level_sizes), h)
            if width != h.num_nodes:
                raise ValueError(
                    f"Hierarchical evaluator: expected logits over num_nodes={h.num_nodes} "
                    f"({layout.describe()}), got width {width}"
                )
        else:
            layout = _Layout((FLAT_LEVEL_NAME,), (width,), None)
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

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        """Accumulate one batch.

        Args:
            mo: all-node logits ``[B, num_nodes]`` in the hierarchy's global node
                order (coarse -> fine); ``[B, num_classes]`` in flat mode.
            gt: leaf labels ``[B]``.
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
        num_leaves = layout.level_sizes[-1]
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_leaves):
            raise ValueError(
                f"Hierarchical evaluator: leaf labels must lie in 0..{num_leaves - 1}, "
                f"got range {int(labels.min())}..{int(labels.max())}"
            )

        h = layout.hierarchy
        if h is not None:
            decoder = DECODINGS[self.decoding]
            scores = decoder(logits, h)
            preds = decoder.predict(scores, h)
            targets = h.level_targets(labels)
        else:
            scores = [logits]
            preds = logits.argmax(dim=1)[:, None]
            targets = labels[:, None]
        ranked = [metrics.topk_predictions(s, targets[:, l], 5) for l, s in enumerate(scores)]
        top5 = torch.stack([hit for hit, _, _ in ranked], dim=1)

        self._layout = layout
        self._preds.append(preds)
        self._targets.append(targets)
        self._top5.append(top5)
        if not self.tree_metrics:
            return
        if h is not None:
            _, leaf_values, leaf_indices = ranked[-1]
            self._hca.append(metrics.hierarchical_consistent_mask(scores, targets, h, leaf_pred=preds[:, -1]))
            self._hdist5.append(metrics.ranked_hierarchical_distance(leaf_values, leaf_indices, labels, h))
            self._cut_hits.append(treecut_correct(logits, labels, self.tree_cuts(h), h))
        else:  # one level: HCA is the leaf top-1 and the class set is the only tree cut
            correct = preds[:, 0] == labels
            self._hca.append(correct)
            self._cut_hits.append(correct[:, None])

    # ------------------------------------------------------------------ results
    def _cut_info(self, layout: _Layout, cut_hits: torch.Tensor) -> dict:
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

    def _compute(self) -> tuple[_Layout, "OrderedDict[str, float]", dict, dict]:
        """Metric dicts (Dassl-facing, then tree metrics), the per-level table and the tree-cut record."""
        layout = self._layout
        if layout is None:  # nothing processed: report zeros for the current hierarchy
            h = self.hierarchy
            layout = _Layout((FLAT_LEVEL_NAME,), (0,), None) if h is None else _Layout(
                tuple(h.level_names), tuple(h.level_sizes), h
            )
        num_levels = len(layout.level_names)
        preds = torch.cat(self._preds) if self._preds else torch.zeros(0, num_levels, dtype=torch.long)
        targets = torch.cat(self._targets) if self._targets else torch.zeros(0, num_levels, dtype=torch.long)
        top5 = torch.cat(self._top5) if self._top5 else torch.zeros(0, num_levels, dtype=torch.bool)
        n = preds.shape[0]

        def pct(fraction: float) -> float:
            return 100.0 * fraction

        per_level: dict[str, dict] = {}
        for level, (name, size) in enumerate(zip(layout.level_names, layout.level_sizes)):
            correct = preds[:, level] == targets[:, level]
            top5_hits = top5[:, level]
            per_level[name] = {
                "top1": pct(correct.double().mean().item()) if n else 0.0,
                "top5": None if size < TOP5_MIN_CLASSES else (pct(top5_hits.double().mean().item()) if n else 0.0),
                "macro_f1": pct(metrics.macro_f1(preds[:, level], targets[:, level], num_classes=max(size, 1))),
                "num_classes": size,
            }

        h = layout.hierarchy
        if h is not None:
            lca = h.lca_height_matrix()
            consistency = pct(metrics.path_consistency(preds, h)) if n else 0.0
            severity = metrics.mistake_severity(preds[:, -1], targets[:, -1], h, lca=lca)
            hdist = metrics.hierarchical_distance_at_1(preds[:, -1], targets[:, -1], h, lca=lca)
        else:  # one level: always a valid path; no tree to measure mistakes in
            consistency = 100.0 if n else 0.0
            severity, hdist = math.nan, math.nan

        results: "OrderedDict[str, float]" = OrderedDict()
        results["accuracy"] = per_level[layout.level_names[-1]]["top1"]
        for name in layout.level_names:
            key, row = _metric_key(name), per_level[name]
            results[f"{key}_top1"] = row["top1"]
            if row["top5"] is not None:
                results[f"{key}_top5"] = row["top5"]
            results[f"{key}_macro_f1"] = row["macro_f1"]
        results["full_path_accuracy"] = pct(metrics.full_path_accuracy(preds, targets))
        results["path_consistency"] = consistency
        results["mistake_severity"] = severity
        results["hierarchical_distance_at_1"] = hdist
        results["num_samples"] = n

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
            tree["hierarchical_consistent_accuracy"] = pct(hca.double().mean().item()) if n else 0.0
            tree["hierarchical_precision"] = pct(hp)
            tree["hierarchical_recall"] = pct(hr)
            tree["hierarchical_f1"] = pct(hf)
            tree["mean_treecut_accuracy"] = (
                float(sum(cut_record["accuracies"]) / len(cut_record["accuracies"])) if cut_record["accuracies"] else math.nan
            )
            tree["hierarchical_distance_at_5"] = hdist5
        return layout, results, tree, {"per_level": per_level, "tree_cuts": cut_record, "preds": preds,
                                       "targets": targets}

    def evaluate(self) -> "OrderedDict[str, float]":
        """Print the Dassl-style report, write results.json (and confusions.json), and return the metrics.

        Returned keys (Dassl-facing; Dassl selects on the first and logs them all):
        ``accuracy`` (finest top-1, the selection metric), then per level
        ``<level>_top1``, ``<level>_top5`` (levels with more than 5 classes only),
        ``<level>_macro_f1``; then ``full_path_accuracy``, ``path_consistency``
        (all in percent), ``mistake_severity`` and ``hierarchical_distance_at_1``
        (LCA heights; NaN when undefined) and ``num_samples``.

        The tree metrics (:data:`TREE_METRIC_KEYS`: HCA, hP/hR/hF, MTA in percent,
        hierarchical distance@5 as a height) are printed, written to results.json
        and kept with the returned keys in :attr:`last_results`.
        """
        layout, results, tree, extra = self._compute()
        self.last_results = OrderedDict(list(results.items()) + list(tree.items()))
        self._print(layout, self.last_results, extra["per_level"], extra["tree_cuts"])
        self._write_files(layout, results, tree, extra)
        return results

    def _print(self, layout: _Layout, results: "OrderedDict[str, float]", per_level: dict, cuts: dict) -> None:
        def height(value: float) -> str:
            return "n/a" if math.isnan(value) else f"{value:.2f}"

        rows = [
            [name, row["num_classes"], row["top1"], row["top5"], row["macro_f1"]] for name, row in per_level.items()
        ]
        headers = ["level", "classes", "top-1 (%)", "top-5 (%)", "macro-F1 (%)"]
        print("=> result")
        print(tabulate(rows, headers=headers, floatfmt=".1f", missingval="-"))
        print(
            f"full path: {results['full_path_accuracy']:.1f}% | consistent path: {results['path_consistency']:.1f}% | "
            f"mistake severity: {height(results['mistake_severity'])} | "
            f"hier. distance@1: {height(results['hierarchical_distance_at_1'])}"
        )
        if "hierarchical_consistent_accuracy" in results:
            print(
                f"HCA: {results['hierarchical_consistent_accuracy']:.1f}% | hP / hR / hF: "
                f"{results['hierarchical_precision']:.1f} / {results['hierarchical_recall']:.1f} / "
                f"{results['hierarchical_f1']:.1f}% | MTA ({cuts['num_cuts']} cuts, seed {cuts['seed']}): "
                f"{height(results['mean_treecut_accuracy'])}% | "
                f"hier. distance@5: {height(results['hierarchical_distance_at_5'])}"
            )
        print(f"* total: {results['num_samples']:,}")
        for key, value in results.items():
            if key == "num_samples":
                continue
            if key in HEIGHT_KEYS:  # heights, not percentages
                if not math.isnan(value):
                    print(f"* {key}: {value:.2f}")
            elif not math.isnan(value):
                print(f"* {key}: {value:.1f}%")

    def _file_name(self, stem: str, extension: str) -> str:
        split = self.split or "test"
        return f"{stem}.{extension}" if split == "test" else f"{stem}_{split}.{extension}"

    def _class_names(self, layout: _Layout) -> list[list[str]]:
        if layout.hierarchy is not None:
            return [layout.hierarchy.names_at_level(level) for level in range(len(layout.level_names))]
        names = self.lab2cname or {}
        return [[str(names.get(i, i)) for i in range(layout.level_sizes[0])]]

    def _write_files(self, layout: _Layout, results: "OrderedDict[str, float]", tree: dict, extra: dict) -> None:
        """results.json, then confusions.json (``TEST.CONFUSIONS_TOP_K`` > 0) and per_level.png (opt-in)."""
        output_dir = _cfg_get(self.cfg, "OUTPUT_DIR", "") or ""
        if not output_dir:
            return
        payload = self._results_payload(layout, results, tree, extra)
        atomic_write_json(os.path.join(output_dir, self._file_name("results", "json")), payload)
        if self.confusions_top_k > 0:
            confusions = {
                "split": payload["split"],
                "decoding": payload["decoding"],
                "levels": list(layout.level_names),
                "top_k": self.confusions_top_k,
                "per_level": confusion_summary(extra["preds"], extra["targets"], layout.level_names,
                                               layout.level_sizes, self._class_names(layout), self.confusions_top_k),
            }
            atomic_write_json(os.path.join(output_dir, self._file_name("confusions", "json")), confusions)
        if self.plot:
            from .plots import per_level_png

            png = per_level_png(
                layout.level_names,
                [row["top1"] for row in extra["per_level"].values()],
                {"HCA": tree.get("hierarchical_consistent_accuracy"), "full path": results["full_path_accuracy"]},
                title=f"{payload['trainer'] or 'run'} on {payload['dataset'] or '?'} "
                f"({payload['split']}, {payload['decoding']} decoding)",
            )
            atomic_write_bytes(os.path.join(output_dir, self._file_name("per_level", "png")), png)

    def _results_payload(self, layout: _Layout, results: "OrderedDict[str, float]", tree: dict, extra: dict) -> dict:
        decoding = self.decoding if layout.hierarchy is not None else "independent"
        payload = {
            "trainer": _cfg_get(self.cfg, "TRAINER.NAME", ""),
            "dataset": _cfg_get(self.cfg, "DATASET.DISPLAY_NAME", "") or _cfg_get(self.cfg, "DATASET.NAME", ""),
            "subsample": _cfg_get(self.cfg, "DATASET.SUBSAMPLE_CLASSES", "all"),
            "seed": _cfg_get(self.cfg, "SEED", None),
            "num_shots": _cfg_get(self.cfg, "DATASET.NUM_SHOTS", None),
            "backbone": _cfg_get(self.cfg, "MODEL.BACKBONE.NAME", ""),
            "split": self.split or "test",
            "decoding": decoding,
            "valid_paths": DECODINGS[decoding].valid_paths or len(layout.level_names) == 1,
            "levels": list(layout.level_names),
            "num_samples": results["num_samples"],
            "accuracy": _json_number(results["accuracy"]),
            "per_level": {
                name: {
                    "top1": _json_number(row["top1"]),
                    "top5": _json_number(row["top5"]),
                    "macro_f1": _json_number(row["macro_f1"]),
                    "num_classes": row["num_classes"],
                }
                for name, row in extra["per_level"].items()
            },
            "full_path_accuracy": _json_number(results["full_path_accuracy"]),
            "path_consistency": _json_number(results["path_consistency"]),
            "mistake_severity": _json_number(results["mistake_severity"]),
            "hierarchical_distance_at_1": _json_number(results["hierarchical_distance_at_1"]),
        }
        for key, value in tree.items():
            payload[key] = _json_number(value)
        if tree:
            cuts = extra["tree_cuts"]
            payload["tree_cuts"] = dict(cuts, accuracies=[_json_number(a) for a in cuts["accuracies"]],
                                        std=_json_number(cuts["std"]))
        payload.update(getattr(self, "run_info", None) or {})  # set by the trainer: num_shots_used, num_processes
        return payload
