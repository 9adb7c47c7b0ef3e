"""Per-class numbers of each level: accuracy (``TEST.PER_CLASS_RESULT``) and the confusion matrix (``TEST.COMPUTE_CMAT``).

Dassl's two switches, for every level of the hierarchy rather than the leaves only. Both read the
``[N, L]`` local predictions and targets the evaluator already keeps, so they cost nothing unless
asked for. Per-class accuracy goes to the log and to results.json (``metric_spec.PER_CLASS_ACCURACY``);
the matrices go to ``cmat.json``, which names its classes so that it is read without this project.
"""
from __future__ import annotations

import json
from typing import Optional, Sequence

import torch
from tabulate import tabulate

from . import metric_spec as spec
from .any_depth_levels import reached

__all__ = ["per_class_accuracy", "print_per_class", "confusion_matrices", "cmat_json_text"]


def per_class_accuracy(preds: torch.Tensor, targets: torch.Tensor, level_names: Sequence[str],
                       names: Sequence[Sequence[str]]) -> dict:
    """``{level: {"mean", "classes": [{index, name, num_samples, correct, accuracy}]}}``, accuracies in percent.

    Every class of the level is listed, in index order; a class without test samples has accuracy
    ``None`` and is left out of ``mean`` (the mean over classes, Dassl's per-class "average").
    """
    table = {}
    for level, level_name in enumerate(level_names):
        size = len(names[level])
        p, t = reached(preds[:, level], targets[:, level], size)  # on an any-depth tree, who reaches the level
        totals = torch.bincount(t, minlength=size).tolist()
        correct = torch.bincount(t[p == t], minlength=size).tolist()
        classes, accuracies = [], []
        for index in range(size):
            accuracy = 100.0 * correct[index] / totals[index] if totals[index] else None
            if accuracy is not None:
                accuracies.append(accuracy)
            classes.append({"index": index, "name": names[level][index], spec.NUM_SAMPLES: totals[index],
                            "correct": correct[index], "accuracy": accuracy})
        table[level_name] = {"mean": sum(accuracies) / len(accuracies) if accuracies else None, "classes": classes}
    return table


def print_per_class(table: dict) -> None:
    """One table per level (no line starts with ``* ``, so log parsers keep reading only the metrics)."""
    for level_name, level in table.items():
        mean = "n/a" if level["mean"] is None else f"{level['mean']:.1f}%"
        print(f"=> per-class result: {level_name} ({len(level['classes'])} classes, mean per-class accuracy {mean})")
        rows = [[c["index"], c["name"], c[spec.NUM_SAMPLES], c["correct"], c["accuracy"]] for c in level["classes"]]
        print(tabulate(rows, headers=["index", "class", "total", "correct", "acc (%)"], floatfmt=".1f",
                       missingval="-"))


def confusion_matrices(preds: torch.Tensor, targets: torch.Tensor, level_sizes: Sequence[int]) -> list[list[list[int]]]:
    """One ``C x C`` count matrix per level: row = true class, column = predicted class.

    On an any-depth tree a level counts the samples whose true path reaches it and whose predicted path
    does too (a path that stopped above the level has no column).
    """
    matrices = []
    for level, size in enumerate(level_sizes):
        p, t = reached(preds[:, level], targets[:, level], size)
        kept = p < size  # an any-depth path that stopped above the level predicts no class of it: not counted
        codes = t[kept] * size + p[kept]
        matrices.append(torch.bincount(codes, minlength=size * size).reshape(size, size).tolist())
    return matrices


def cmat_json_text(header: dict, level_names: Sequence[str], names: Sequence[Sequence[str]],
                   matrices: Sequence[Sequence[Sequence[int]]], indent: Optional[int] = 2) -> str:
    """``cmat.json``'s text: ``header``, then ``per_level.<level>.{classes, matrix}``, one matrix row per line.

    json.dumps with an indent would put every count on its own line; a row per line keeps the file
    readable and as loadable (``json.load``).
    """
    pad = " " * (indent or 0)
    payload = dict(header, per_level={name: {"classes": list(names[level]), "matrix": None}
                                      for level, name in enumerate(level_names)})
    text = json.dumps(payload, indent=indent)
    for level, name in enumerate(level_names):
        rows = ",\n".join(pad * 4 + json.dumps(row, separators=(",", ":")) for row in matrices[level])
        block = f"[\n{rows}\n{pad * 3}]" if rows else "[]"
        marker = '"matrix": null'
        start = text.index(json.dumps(name) + ": {", text.index('"per_level"'))
        at = text.index(marker, start)
        text = text[:at] + '"matrix": ' + block + text[at + len(marker):]
    return text + "\n"
