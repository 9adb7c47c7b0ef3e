"""A PNG of one run's per-level top-1 beside its path metrics (HCA, full path), for a quick look.

Off by default (``TEST.PLOT_PER_LEVEL``): matplotlib is slow to import and most runs are
read through ``results.json``. The comparison charts across trainers live in ``comparison_report.py``.
"""
from __future__ import annotations

import io
import math
from typing import Optional, Sequence

__all__ = ["per_level_png", "percent_chart_png"]


def percent_chart_png(fig: "object", ax: "object", ylabel: str, title: str, dpi: int) -> bytes:
    """Finish a bar chart of percentages as both charts here draw it (0-105 % axis, grid behind the bars,
    ``ylabel``, ``title``) and return it as PNG bytes; the caller closes the figure."""
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def per_level_png(
    level_names: Sequence[str],
    level_top1: Sequence[float],
    path_metrics: "dict[str, Optional[float]]",
    title: str = "",
    dpi: int = 120,
) -> bytes:
    """Bar chart: one bar per level (top-1 %, l1 = coarsest), then one per path metric; PNG bytes.

    ``path_metrics`` maps a label (e.g. ``"HCA"``) to a percentage; ``None``/NaN bars are left out.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    extra = [(label, value) for label, value in path_metrics.items() if value is not None and not math.isnan(value)]
    labels = [f"l{i + 1} ({name})" for i, name in enumerate(level_names)] + [label for label, _ in extra]
    values = list(level_top1) + [value for _, value in extra]
    colours = ["tab:blue"] * len(level_names) + ["tab:orange"] * len(extra)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels) + 1.5), 4.5))
    try:
        bars = ax.bar(range(len(values)), values, color=colours, edgecolor="black", linewidth=0.5)
        for bar, value in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, value + 1, f"{value:.1f}", ha="center", fontsize="small")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=20, ha="right")
        return percent_chart_png(fig, ax, "accuracy (%)", title or "top-1 per level (blue) and path metrics (orange)", dpi)
    finally:
        plt.close(fig)
