"""Render method comparisons (``aggregate.compare_summary``) as the HGCLIP paper's Table 1, CSV, a bar chart
and a self-contained HTML page (:mod:`.html_page`).

Table 1 layout: one row per dataset x level (l1 = coarsest), one column per method, top-1 (%)
cells, the best method of each row in bold. Here each cell is ``mean ± std`` over seeds; with a
single seed the std is meaningless, so the cell is just the mean (the footnote says so).
An extra ``full path`` row gives the accuracy of getting every level right at once; results
with tree metrics add rows for HCA, MTA, hP/hR/hF (%) and the hierarchical distances @1/@5
(LCA heights, where the LOWEST mean is bold).

Everything is written atomically (``hgclip.common.fileio``) so a crash never leaves half a file.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import os.path as osp
from typing import Optional, Sequence

from tabulate import tabulate

from ..common.fileio import atomic_write_bytes, atomic_write_text
from . import metric_spec as spec
from .html_page import COMPARISON, column, render_page
from .plots import percent_chart_png

__all__ = ["format_cell", "level_label", "comparison_markdown", "comparison_csv", "comparison_png", "comparison_html_data",
           "write_reports"]

MISSING = "-"
FULL_PATH = spec.by_key(spec.FULL_PATH_ACCURACY)  # the row after the levels: every level right at once


def format_cell(stats: Optional[dict], bold: bool = False, decimals: int = 2) -> str:
    """``mean ± std`` (just ``mean`` with one seed), optionally bold; ``-`` when there is no value."""
    if stats is None or stats["mean"] is None or math.isnan(stats["mean"]):
        return MISSING
    text = f"{stats['mean']:.{decimals}f}"
    if stats["n"] > 1:
        text += f" ± {stats['std']:.{decimals}f}"
    return f"**{text}**" if bold else text


def level_label(index: int, name: str) -> str:
    """``l1 (family)``: the paper's level number (l1 = coarsest) with the hierarchy's level name."""
    return f"l{index + 1} ({name})"


def _rows(comparison: dict) -> list[tuple[str, str, str, dict]]:
    """(row label, csv level name, metric, {trainer: stats}): each level, full path, then the tree metrics.

    A tree-metric row is present when at least one trainer reports it (``seed_summary``'s ``metrics``).
    """
    trainers = comparison["trainers"]
    rows = [
        (level_label(i, level), level, spec.TOP1, {t: s["per_level"].get(level) for t, s in trainers.items()})
        for i, level in enumerate(comparison["levels"])
    ]
    rows.append((FULL_PATH.label, FULL_PATH.label, FULL_PATH.key, {t: s["full_path"] for t, s in trainers.items()}))
    for metric in spec.COMPARISON_ROWS:
        cells = {t: s.get("metrics", {}).get(metric.key) for t, s in trainers.items()}
        if any(cell is not None for cell in cells.values()):
            rows.append((metric.label, metric.label, metric.key, cells))
    return rows


def _best(cells: dict, decimals: int, lowest: bool = False) -> set[str]:
    """Trainers whose mean, as printed, is the row's maximum (``lowest``: minimum); ties are all bold."""
    shown = {t: round(s["mean"], decimals) for t, s in cells.items()
             if s is not None and s["mean"] is not None and not math.isnan(s["mean"])}
    if not shown:
        return set()
    top = min(shown.values()) if lowest else max(shown.values())
    return {t for t, v in shown.items() if v == top}


def _trainer_order(comparisons: Sequence[dict]) -> list[str]:
    order: list[str] = []
    for comparison in comparisons:
        order.extend(t for t in comparison["trainers"] if t not in order)
    return order


def comparison_markdown(comparisons: Sequence[dict], decimals: int = 2, notes: bool = True) -> str:
    """A GitHub-markdown Table 1: rows dataset x level, columns trainers, best mean per row in bold."""
    comparisons = [comparisons] if isinstance(comparisons, dict) else list(comparisons)
    trainers = _trainer_order(comparisons)
    body = []
    for comparison in comparisons:
        for i, (label, _, metric, cells) in enumerate(_rows(comparison)):
            best = _best(cells, decimals, lowest=not spec.by_key(metric).higher_is_better)
            body.append([comparison["dataset"] if i == 0 else "", label,
                         *[format_cell(cells.get(t), t in best, decimals) for t in trainers]])
    table = tabulate(body, headers=["Dataset", "Level", *trainers], tablefmt="github", disable_numparse=True)
    if not notes:
        return table
    seeds = sorted({s for c in comparisons for s in c["seeds"]}, key=str)
    n_seeds = sorted({stats["n"] for c in comparisons for t in c["trainers"].values()
                      for stats in t["per_level"].values()})
    spread = ("std omitted: one seed per cell" if n_seeds == [1]
              else "population std (np.std) over seeds; a cell without ± has one seed")
    configs = "; ".join(f"{t}: {s['config']}" for c in comparisons for t, s in c["trainers"].items() if s.get("config"))
    tree_rows = any(c["trainers"][t].get("metrics") for c in comparisons for t in c["trainers"])
    lines = [
        table,
        "",
        f"Top-1 accuracy (%) per hierarchy level (l1 = coarsest), mean over seeds {', '.join(map(str, seeds))}; "
        f"{spread}. Bold: best mean of the row. `full path`: all levels right at once.",
    ]
    if tree_rows:
        lines.append("HCA: right at every node of the true path (ProTeCt); MTA: mean accuracy over the fixed "
                     "random tree cuts; hP/hR/hF: hierarchical precision/recall/F1 (%); hier. dist@k: mean LCA "
                     "height of the top-k leaves (lower is better, bold = lowest).")
    if configs:
        lines.append(f"Configs: {configs}.")
    return "\n".join(lines) + "\n"


def comparison_csv(comparisons: Sequence[dict]) -> str:
    """Long format: one line per dataset x trainer x level, with mean, std, n_seeds and one column per seed."""
    comparisons = [comparisons] if isinstance(comparisons, dict) else list(comparisons)
    seeds = []
    for comparison in comparisons:
        seeds.extend(s for s in comparison["seeds"] if s not in seeds)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "trainer", "config", "level_index", "level", "metric", "mean", "std", "n_seeds",
                     *[f"seed{s}" for s in seeds]])
    for comparison in comparisons:
        for index, (_, level, metric, cells) in enumerate(_rows(comparison)):
            level_index = index + 1 if metric == spec.TOP1 else ""
            for trainer, stats in cells.items():
                if stats is None:
                    continue
                by_seed = dict(zip(stats["seeds"], stats["values"]))
                writer.writerow([
                    comparison["dataset"], trainer, comparison["trainers"][trainer].get("config", ""),
                    level_index, level, metric, f"{stats['mean']:.4f}", f"{stats['std']:.4f}", stats["n"],
                    *[f"{by_seed[s]:.4f}" if s in by_seed else "" for s in seeds],
                ])
    return buffer.getvalue()


def comparison_png(comparison: dict, dpi: int = 120) -> bytes:
    """Grouped bar chart (x = levels, one bar per trainer, error bars = std) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt
    import numpy as np

    levels = comparison["levels"]
    trainers = list(comparison["trainers"])
    x = np.arange(len(levels))
    width = 0.8 / max(len(trainers), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + 0.35 * len(levels) * len(trainers) + len(levels)), 4.5))
    try:
        colours = plt.get_cmap("tab10").colors
        for k, trainer in enumerate(trainers):
            per_level = comparison["trainers"][trainer]["per_level"]
            means = [per_level[level]["mean"] for level in levels]
            several = any(per_level[level]["n"] > 1 for level in levels)  # no error bar for a single seed
            stds = [per_level[level]["std"] for level in levels] if several else None
            offset = (k - (len(trainers) - 1) / 2) * width
            ax.bar(x + offset, means, width, yerr=stds, capsize=3, label=trainer,
                   color=colours[k % len(colours)], edgecolor="black", linewidth=0.5)
        ax.set_xticks(x)
        ax.set_xticklabels([level_label(i, name) for i, name in enumerate(levels)])
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
        seeds = ", ".join(map(str, comparison["seeds"]))
        title = f"{comparison['dataset']}: top-1 per level (seed{'s' if len(comparison['seeds']) > 1 else ''} {seeds})"
        return percent_chart_png(fig, ax, "top-1 accuracy (%)", title, dpi)
    finally:
        plt.close(fig)


def _finite(value: Optional[float]) -> Optional[float]:
    return None if value is None or math.isnan(value) else float(value)


def comparison_html_data(comparison: dict, decimals: int = 2) -> dict:
    """What ``comparison.html`` shows: the Table-1 rows (methods x levels and metrics), best means marked."""
    trainers = list(comparison["trainers"])
    rows = []
    for label, _, metric_key, cells in _rows(comparison):
        metric = spec.by_key(metric_key)
        rows.append({
            "label": label, "unit": metric.unit, "meaning": metric.meaning, "decimals": decimals,
            "best": sorted(_best(cells, decimals, lowest=not metric.higher_is_better)),
            "cells": {t: None if s is None or _finite(s["mean"]) is None else
                      {"mean": _finite(s["mean"]), "std": _finite(s["std"]) or 0.0, "n": s["n"],
                       "text": format_cell(s, decimals=decimals)}  # as comparison.md prints it
                      for t, s in cells.items()},
        })
    seeds = ", ".join(map(str, comparison["seeds"]))
    notes = ["Cells: mean ± population std over seeds (just the mean with one seed); bold: best mean of the row "
             "(lowest for the hierarchical distances). Rows l1.. are top-1 (%) per level, l1 = coarsest; "
             "full path: every level right at once."]
    configs = "; ".join(f"{t}: {s['config']}" for t, s in comparison["trainers"].items() if s.get("config"))
    if configs:
        notes.append(f"Configs: {configs}.")
    return {"kind": COMPARISON, "title": f"Comparison on {comparison['dataset']}",
            "subtitle": f"{len(trainers)} method(s), seed(s) {seeds}", "trainers": trainers,
            "headers": [column("level / metric", True)] + [column(t) for t in trainers], "rows": rows, "notes": notes}


def write_reports(comparison: dict, out_dir: str, plot: bool = True) -> dict[str, str]:
    """Write ``comparison.md``, ``.csv``, ``.html`` and (``plot``) ``.png`` into ``out_dir``; return their paths by
    extension. Without ``plot`` an older ``comparison.png`` there is removed: it would show other numbers.

    The plot is optional because drawing it costs more than everything else (matplotlib's import and a tight
    layout per figure): a sweep's collector writes many tables, and comparison.html already shows each one, coloured by accuracy."""
    paths = {ext: osp.join(out_dir, f"comparison.{ext}") for ext in ("md", "csv", "png", "html")}
    atomic_write_text(paths["md"], comparison_markdown([comparison]))
    atomic_write_text(paths["csv"], comparison_csv([comparison]))
    if plot:
        atomic_write_bytes(paths["png"], comparison_png(comparison))
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(paths.pop("png"))
    atomic_write_text(paths["html"], render_page(comparison_html_data(comparison)))
    return paths
