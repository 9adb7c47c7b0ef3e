"""What one evaluation prints and writes: the Dassl-style report, results.json and, on request,
confusions.json, per_level.png, cmat.json, predictions.jsonl and report.html (:func:`output_files` names them all).

The printed report is ``=> result``, a per-level table, the summary lines, then ``* total: N`` and
one ``* <key>: x.x%`` line per defined metric (what CoOp-style ``parse_test_res --keyword`` greps),
then, with ``TEST.PER_CLASS_RESULT``, one per-class table per level.
Files go to ``cfg.OUTPUT_DIR`` (nothing is written without one), atomically; a split other than
``test`` is named in the file: ``results_<split>.json``. Keys, units, labels and decimals come
from :mod:`.metric_spec`; the numbers from the evaluator (:class:`.scores.Scores`).
"""
from __future__ import annotations

import math
import os
from typing import Any, Optional

from tabulate import tabulate

from ..common.fileio import atomic_write_bytes, atomic_write_json
from ..config import read_key
from ..runtime.run_dir import CMAT_STEM, HTML_REPORT_STEM, PREDICTIONS_STEM, evaluation_output_name, evaluation_outputs
from . import metric_spec as spec
from .confusions import confusion_summary, leaf_confusions
from .decoding import DECODINGS
from .html_page import render_page
from .html_report import DEFAULT_PAIRS, run_report_data
from .optional_cfg import cfg_get
from .per_class import cmat_json_text, confusion_matrices, print_per_class
from .predictions import predictions_text
from .scores import Scores

__all__ = ["print_report", "results_payload", "write_outputs", "json_number", "output_files",
           "CMAT_STEM", "PREDICTIONS_STEM", "HTML_REPORT_STEM"]



def json_number(value: Optional[float]) -> Optional[float]:
    """Round for results.json; NaN (undefined) and ``None`` become ``null``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 4)


def _summary_value(metric: spec.Metric, value: float) -> str:
    text = "n/a" if math.isnan(value) else f"{value:.{metric.summary_decimals}f}"
    return text + ("%" if metric.unit == spec.PERCENT else "")


def _summary_item(item: Any, metrics: dict, cuts: dict) -> str:
    """``label: value`` of one metric, or ``a / b / c: x / y / z%`` of a tuple of percentages."""
    if isinstance(item, tuple):
        group = [spec.by_key(key) for key in item]
        values = " / ".join(f"{metrics[m.key]:.{m.summary_decimals}f}" for m in group)
        return f"{' / '.join(m.summary_label for m in group)}: {values}%"
    metric = spec.by_key(item)
    return f"{metric.summary_label.format(**cuts)}: {_summary_value(metric, metrics[item])}"


def print_report(scores: Scores) -> None:
    """The Dassl-style report of one evaluation on stdout."""
    metrics = scores.all_metrics
    columns = spec.PER_LEVEL_METRICS
    rows = [[name, row[spec.NUM_CLASSES], *[row[m.key] for m in columns]] for name, row in scores.per_level.items()]
    headers = ["level", "classes", *[f"{m.label} ({m.unit})" for m in columns]]
    print("=> result")
    print(tabulate(rows, headers=headers, floatfmt=".1f", missingval="-"))
    for line in spec.SUMMARY_LINES:
        first = line[0] if isinstance(line[0], str) else line[0][0]
        if first in metrics:  # the tree line only when the tree metrics were computed
            print(" | ".join(_summary_item(item, metrics, scores.tree_cuts) for item in line))
    print(f"* {spec.by_key(spec.NUM_SAMPLES).label}: {metrics[spec.NUM_SAMPLES]:,}")
    for key, value in metrics.items():
        metric = spec.metric_of(key)
        if metric is None or metric.unit == spec.COUNT or math.isnan(value):
            continue
        print(f"* {key}: {value:.{metric.decimals}f}{spec.suffix(key)}")
    if scores.per_class:
        print_per_class(scores.per_class)


def output_files(split: str = "test") -> list[str]:
    """The names of every file an evaluation of ``split`` may write (what a fresh run must clear)."""
    return evaluation_outputs(split)


def results_payload(cfg: Any, scores: Scores, split: str, decoding: str, run_info: Optional[dict] = None) -> dict:
    """The content of results.json: the run's identity, then every metric in the spec's order."""
    layout = scores.layout
    decoding = decoding if layout.hierarchy is not None else "independent"
    returned = scores.returned
    payload = {
        "trainer": cfg_get(cfg, "TRAINER.NAME", ""),
        "dataset": read_key(cfg, "DATASET.DISPLAY_NAME") or cfg_get(cfg, "DATASET.NAME", ""),
        "subsample": read_key(cfg, "DATASET.SUBSAMPLE_CLASSES"),
        "seed": cfg_get(cfg, "SEED", None),
        "num_shots": cfg_get(cfg, "DATASET.NUM_SHOTS", None),
        "backbone": cfg_get(cfg, "MODEL.BACKBONE.NAME", ""),
        "split": split or "test",
        "decoding": decoding,
        "valid_paths": DECODINGS[decoding].valid_paths or len(layout.level_names) == 1,
        "levels": list(layout.level_names),
        spec.NUM_SAMPLES: returned[spec.NUM_SAMPLES],
        spec.ACCURACY: json_number(returned[spec.ACCURACY]),
        "per_level": {
            name: {**{m.key: json_number(row[m.key]) for m in spec.PER_LEVEL_METRICS},
                   spec.NUM_CLASSES: row[spec.NUM_CLASSES]}
            for name, row in scores.per_level.items()
        },
    }
    for key in spec.RETURNED_KEYS:
        if key not in payload:
            payload[key] = json_number(returned[key])
    for key, value in scores.tree.items():
        payload[key] = json_number(value)
    if scores.tree:
        cuts = scores.tree_cuts
        payload["tree_cuts"] = dict(cuts, accuracies=[json_number(a) for a in cuts["accuracies"]],
                                    std=json_number(cuts["std"]))
    payload.update(run_info or {})  # set by the trainer: num_shots_used, num_processes
    if scores.per_class:  # TEST.PER_CLASS_RESULT
        payload[spec.PER_CLASS_ACCURACY] = {
            level: {"mean": json_number(table["mean"]),
                    "classes": [dict(c, accuracy=json_number(c["accuracy"])) for c in table["classes"]]}
            for level, table in scores.per_class.items()
        }
    return payload


def write_outputs(cfg: Any, scores: Scores, split: str, decoding: str, confusions_top_k: int, plot: bool,
                  run_info: Optional[dict] = None, compute_cmat: bool = False, html: bool = False,
                  trained: bool = True) -> list[str]:
    """Write this evaluation's files into OUTPUT_DIR, each atomically; returns their paths.

    results.json always, and last (an evaluation that fails while writing leaves none); confusions.json
    (``confusions_top_k`` > 0), per_level.png (``plot``), cmat.json (``compute_cmat``), predictions.jsonl
    (``scores.samples``, ``TEST.SAVE_PREDICTIONS``) and report.html (``html``, ``TEST.HTML_REPORT``; example
    images need the saved predictions' image paths) on request. Nothing without an OUTPUT_DIR. ``trained``: False
    for a model that learned nothing from training images (the report then says nothing about shots).
    """
    output_dir = cfg_get(cfg, "OUTPUT_DIR", "") or ""
    if not output_dir:
        return []
    layout = scores.layout
    written: list[str] = []

    def write(stem: str, extension: str, data: Any, announce: bool = False) -> None:
        """``data``: bytes or text as they are, anything else as indented JSON."""
        path = os.path.join(output_dir, evaluation_output_name(stem, extension, split))
        if isinstance(data, (bytes, str)):
            atomic_write_bytes(path, data if isinstance(data, bytes) else data.encode("utf-8"))
        else:
            atomic_write_json(path, data)
        written.append(path)
        if announce:  # the files a user asked for by a TEST key: say where they are
            print(f"Wrote {path}")

    payload = results_payload(cfg, scores, split, decoding, run_info)
    header = {"split": payload["split"], "decoding": payload["decoding"], "levels": list(layout.level_names)}
    if confusions_top_k > 0:
        confusions = dict(header, top_k=confusions_top_k, per_level=confusion_summary(
            scores.preds, scores.targets, layout.level_names, layout.level_sizes, scores.class_names,
            confusions_top_k))
        if layout.hierarchy is not None and layout.hierarchy.ragged:  # leaves at several depths: leaf pairs too
            confusions["leaf"] = leaf_confusions(scores.pred_leaf, scores.true_leaf, layout.hierarchy,
                                                 confusions_top_k)
        write("confusions", "json", confusions)
    if plot:
        from .plots import per_level_png

        hca, full = spec.by_key(spec.HIERARCHICAL_CONSISTENT_ACCURACY), spec.by_key(spec.FULL_PATH_ACCURACY)
        png = per_level_png(
            layout.level_names,
            [row[spec.TOP1] for row in scores.per_level.values()],
            {hca.label: scores.tree.get(hca.key), full.label: scores.returned[full.key]},
            title=f"{payload['trainer'] or 'run'} on {payload['dataset'] or '?'} "
            f"({payload['split']}, {payload['decoding']} decoding)",
        )
        write("per_level", "png", png)
    if compute_cmat:
        matrices = confusion_matrices(scores.preds, scores.targets, layout.level_sizes)
        write(CMAT_STEM, "json", cmat_json_text(dict(header, rows="true class", columns="predicted class"),
                                                layout.level_names, scores.class_names, matrices), announce=True)
    if scores.samples is not None:
        leaf_names = layout.hierarchy.leaf_names if layout.hierarchy is not None else ()
        write(PREDICTIONS_STEM, "jsonl", predictions_text(scores.samples, scores.preds, scores.targets,
                                                          layout.level_names, scores.class_names, scores.pred_leaf,
                                                          scores.true_leaf, leaf_names), announce=True)
    if html:
        impaths = scores.samples.impaths if scores.samples is not None else None
        raw = {"per_level": scores.per_level, "metrics": scores.all_metrics}  # the numbers print_report printed
        data = run_report_data(payload, layout, scores.class_names, scores.preds, scores.targets, impaths=impaths,
                               top_k=confusions_top_k or DEFAULT_PAIRS, raw=raw, trained=trained)
        write(HTML_REPORT_STEM, "html", render_page(data), announce=True)
    write("results", "json", payload)  # last: a results.json means every output of this evaluation is there
    _remove_stale(output_dir, split, written)
    return written


def _remove_stale(output_dir: str, split: str, written: list[str]) -> None:
    """Delete the on-request files of ``split`` that this evaluation did not write.

    They come from an earlier evaluation into the same directory with other ``TEST`` switches;
    beside the new results.json they would describe another model or decoder (issue 18, item 5).
    """
    for name in output_files(split):
        path = os.path.join(output_dir, name)
        if path not in written and os.path.isfile(path):
            os.remove(path)
            print(f"Removed {path}: an earlier evaluation wrote it, this one was not asked to")
