"""hgclip-sweep's collector: tables without plots by default; ``plots`` adds each comparison.png, and a later
collection without plots removes it (a chart must not show other numbers than its table)."""
from __future__ import annotations

import os.path as osp

from hgclip.cli.bench_sweep import write_tree
from hgclip.cli.sweep_collect import collect


def test_plots_are_opt_in_and_never_outlive_their_table(tmp_path):
    output = str(tmp_path)
    assert write_tree(output, 100) == 100  # 10 datasets x 10 cells x 1 seed
    written = collect(output)
    assert len(written) == 10
    for _, _, paths in written:
        assert sorted(paths) == ["csv", "html", "md"] and all(osp.isfile(path) for path in paths.values())
        assert not osp.exists(osp.join(osp.dirname(paths["md"]), "comparison.png"))
    plotted = collect(output, ["all"], plots=True)
    png = plotted[0][2]["png"]
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    collect(output)
    assert not osp.exists(png)
