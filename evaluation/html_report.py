"""The data of one run's HTML report (``report.html``, ``TEST.HTML_REPORT``): what a person reads at a glance.

results.json and confusions.json hold the numbers for programs; this gathers, from what the
evaluator already computed, what a reader wants on one page (drawn by :mod:`.html_page`):

* the per-level table and the summary metrics, as results.json has them;
* the tree, each node with its accuracy: of the test samples whose true path passes through the
  node, the share predicted right at the node's level (so a leaf's accuracy is its class accuracy
  and an inner node's says how well its branch is recognised at its depth);
* per level, the most confused (true, predicted) pairs with their lowest common ancestor;
* with saved predictions (``TEST.SAVE_PREDICTIONS``, which keeps the image paths), a few example
  images of each pair as inline thumbnails.

Everything is vectorised over samples (one ``bincount`` per level), so the page of 50,000 samples
on a 1,000-node tree is written in well under a second apart from the thumbnails.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from . import metric_spec as spec
from .any_depth_levels import NO_PREDICTION
from .confusions import most_confused
from .html_page import RUN, column, number_text
from .scores import Layout
from .thumbnails import thumbnail_base64

__all__ = ["node_accuracy", "pair_lca", "run_report_data", "DEFAULT_PAIRS"]

DEFAULT_PAIRS = 10  # confused pairs per level when TEST.CONFUSIONS_TOP_K is 0
EXAMPLES_PER_PAIR = 4
MAX_IMAGES = 300  # thumbnails per page, so that a report of many levels stays a few hundred kilobytes


def _tree(layout: Layout, names: Sequence[Sequence[str]]) -> tuple[list[str], list[int], list[int]]:
    """Node names, parents (-1 at the top) and levels in global order; a flat layout is one level of roots."""
    h = layout.hierarchy
    if h is not None:
        return list(h.node_names), list(h.parents), list(h.node_levels)
    flat = [str(name) for name in names[0]] if names else []
    return flat, [-1] * len(flat), [0] * len(flat)


def node_accuracy(preds: torch.Tensor, targets: torch.Tensor, level_sizes: Sequence[int]) -> tuple[list[int], list[int]]:
    """``(correct, total)`` per node in global order: samples whose true path holds the node, and those right at its level."""
    p_all, t_all = _int_array(preds), _int_array(targets)
    correct, total = [], []
    for level, size in enumerate(level_sizes):
        t, p = t_all[:, level], p_all[:, level]
        keep = t >= 0  # an any-depth tree: the samples whose true path reaches the level
        t, p = t[keep], p[keep]
        total.extend(np.bincount(t, minlength=size)[:size].tolist())
        correct.extend(np.bincount(t[p == t], minlength=size)[:size].tolist())
    return correct, total


def _int_array(values: torch.Tensor) -> np.ndarray:
    """``[N, L]`` indices as numpy: single-threaded, so a busy machine does not stall torch's thread pool."""
    return np.asarray(torch.as_tensor(values).detach().cpu().long().numpy())


def pair_lca(a: int, b: int, parents: Sequence[int]) -> tuple[int, int]:
    """``(lowest common ancestor, height)`` of two nodes of one level; ancestor -1 is the implicit root."""
    height = 0
    while a != b:
        a, b, height = parents[a], parents[b], height + 1
        if a < 0 or b < 0:
            return -1, height
    return a, height


def _examples(mask: np.ndarray, impaths: Sequence[Optional[str]], per_pair: int, size: int,
              images: list[dict], cache: dict[str, Optional[int]]) -> list[int]:
    """Ids (into ``images``) of up to ``per_pair`` readable thumbnails of the samples in ``mask``."""
    ids: list[int] = []
    for index in np.flatnonzero(mask).tolist():
        if len(ids) >= per_pair:
            break
        path = impaths[index]
        if not path:
            continue
        if path not in cache:
            if len(images) >= MAX_IMAGES:
                break
            data = thumbnail_base64(path, size)
            cache[path] = None if data is None else len(images)
            if data is not None:
                images.append({"data": data, "title": f"#{index}: {path.replace(chr(92), '/').rsplit('/', 1)[-1]}"})
        if cache[path] is not None and cache[path] not in ids:
            ids.append(cache[path])
    return ids


def _confusions(layout: Layout, names: Sequence[Sequence[str]], tree: tuple[list[str], list[int], list[int]],
                preds: torch.Tensor, targets: torch.Tensor, top_k: int, impaths: Optional[Sequence[Optional[str]]],
                per_pair: int, size: int) -> tuple[list[dict], list[dict]]:
    """Per level, the ``top_k`` most confused pairs with their lowest common ancestor and example thumbnails."""
    node_names, parents, node_levels = tree
    offsets = [sum(layout.level_sizes[:level]) for level in range(len(layout.level_sizes))]
    images: list[dict] = []
    cache: dict[str, Optional[int]] = {}
    levels = []
    p_all, t_all = _int_array(preds), _int_array(targets)
    for level, (name, classes) in enumerate(zip(layout.level_names, layout.level_sizes)):
        p, t = p_all[:, level], t_all[:, level]
        # an any-depth tree: only samples whose true path reaches the level; a path stopped above it: NO_PREDICTION
        reach, p = t >= 0, np.where(p < 0, classes, p)
        width = max(classes, 1) + int(bool((p[reach] == classes).any()))
        level_names = list(names[level]) + [NO_PREDICTION]
        per_class = np.bincount(t[reach], minlength=max(classes, 1))
        codes = np.where(reach, t * width + p, -1) if impaths is not None and per_pair > 0 else None  # one pair, one code
        pairs = []
        for pair in most_confused(torch.from_numpy(p[reach]), torch.from_numpy(t[reach]), width, top_k):
            true, predicted = pair["true"], pair["predicted"]
            lca, height = (pair_lca(offsets[level] + true, offsets[level] + predicted, parents)
                           if predicted < classes else (-1, 0))
            examples = []
            if codes is not None:
                examples = _examples(codes == true * width + predicted, impaths, per_pair, size, images, cache)
            share = 100.0 * pair["count"] / int(per_class[true])
            pairs.append({
                "true_name": level_names[true], "predicted_name": level_names[predicted], "count": pair["count"],
                "share_of_true": round(share, 2), "share_text": number_text(share, 1, spec.PERCENT),
                "lca": None if lca < 0 else node_names[lca],
                "lca_level": None if lca < 0 else layout.level_names[node_levels[lca]],
                "height": height, "examples": examples,
            })
        levels.append({"level": name, spec.NUM_SAMPLES: int(reach.sum()), "num_mistakes": int((p != t)[reach].sum()),
                       "pairs": pairs})
    return levels, images


def _summary(results: dict, metrics: dict) -> list[dict]:
    """The run's single-number metrics as results.json has them (labels, units and decimals from the spec), each
    with its text as the log's summary lines print it from ``metrics`` (the unrounded values)."""
    rows = []
    for metric in spec.METRICS:
        if metric.per_level or metric.unit == spec.COUNT or metric.key not in results:
            continue
        label = metric.summary_label.split(" (")[0] if metric.summary_label else metric.label
        rows.append({"label": label, "value": results[metric.key], "unit": metric.unit,
                     "decimals": metric.summary_decimals, "meaning": metric.meaning,
                     "text": number_text(metrics.get(metric.key, results[metric.key]), metric.summary_decimals,
                                         metric.unit)})
    return rows


def _shots(results: dict, trained: bool) -> list[str]:
    """What the subtitle says about the training images: nothing for a model that learned nothing from them."""
    shots = results.get("num_shots")
    if not trained or shots in (None, ""):
        return []
    return ["all training images"] if int(shots) < 0 else [f"{int(shots)} shots"]


CONFUSION_HEADERS = [column("true", True), column("predicted", True), column("count"), column("share of true"),
                     column("lowest common ancestor", True), column("height"), column("examples", True)]


def run_report_data(results: dict, layout: Layout, names: Sequence[Sequence[str]], preds: torch.Tensor,
                    targets: torch.Tensor, impaths: Optional[Sequence[Optional[str]]] = None, top_k: int = DEFAULT_PAIRS,
                    examples_per_pair: int = EXAMPLES_PER_PAIR, thumbnail_px: int = 64, raw: Optional[dict] = None,
                    trained: bool = True) -> dict:
    """Everything ``report.html`` shows, as JSON-ready data.

    Args:
        results: the run's results.json content (:func:`.run_report.results_payload`).
        raw: the unrounded numbers the log printed, ``{"per_level": {level: {key: value}}, "metrics": {key: value}}``
            (results.json's are rounded to 4 decimals, and rounding twice can change the last printed digit);
            the page's texts are formatted from them. None: from ``results``.
        trained: False for a model that learned nothing from training images (zero-shot): no shots in the subtitle.
        layout, names: the levels and each level's class names in index order.
        preds, targets: ``[N, L]`` local per-level predictions and targets.
        impaths: each sample's image path (the saved predictions'), or None: no example images.
        top_k: confused pairs per level; ``examples_per_pair``: thumbnails per pair (``thumbnail_px`` wide).
    """
    tree = _tree(layout, names)
    node_names, parents, node_levels = tree
    correct, total = node_accuracy(preds, targets, layout.level_sizes)
    level_names = list(layout.level_names)
    confusions, images = _confusions(layout, names, tree, preds, targets, top_k, impaths, examples_per_pair, thumbnail_px)
    per_level = results.get("per_level", {})
    raw_levels, raw_metrics = (raw or {}).get("per_level", per_level), (raw or {}).get("metrics", results)
    columns = [{"key": m.key, "label": f"{m.label} (%)", "unit": m.unit} for m in spec.PER_LEVEL_METRICS]
    levels = [{"name": name, "classes": per_level.get(name, {}).get(spec.NUM_CLASSES, size),
               "values": [per_level.get(name, {}).get(c["key"]) for c in columns],
               "texts": [number_text(raw_levels.get(name, {}).get(c["key"]), 1, c["unit"]) for c in columns]}
              for name, size in zip(level_names, layout.level_sizes)]
    details = [f"split {results.get('split', 'test')}", f"{results.get('decoding', 'independent')} decoding",
               f"{int(results.get(spec.NUM_SAMPLES, preds.shape[0])):,} samples"]
    details += [f"{key} {results[key]}" for key in ("backbone", "seed") if results.get(key) not in (None, "")]
    details += _shots(results, trained)
    return {
        "kind": RUN,
        "title": f"{results.get('trainer') or 'run'} on {results.get('dataset') or 'a dataset'}",
        "subtitle": ", ".join(details),
        "columns": columns,
        "level_headers": [column("level", True), column("classes")] + [column(c["label"]) for c in columns],
        "levels": levels,
        "summary_headers": [column("metric", True), column("value")],
        "summary": _summary(results, raw_metrics),
        "tree": {"level_names": level_names, "names": node_names, "parents": parents, "levels": node_levels,
                 "correct": correct, "total": total,
                 "accuracy_texts": [number_text(100.0 * c / t, 1, spec.PERCENT) if t else "n/a"
                                    for c, t in zip(correct, total)]},
        "confusion_headers": CONFUSION_HEADERS,
        "confusions": confusions,
        "images": images,
    }

