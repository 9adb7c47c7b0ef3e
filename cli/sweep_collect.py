"""Collect a finished output tree into tables: mean ± std over seeds per cell (trainer or TRAINER+VARIANT).

It reads only the ``results.json`` files at the depths the tools write them (``compare/``, ``base2new/``,
``xd/``; see :mod:`hgclip.cli.sweep_plan`), groups them by protocol, part and dataset, and writes one
``comparison.md``/``.csv``/``.html`` per group into ``<output>/sweep/tables/<protocol>/<dataset>[_<part>]/``
(:func:`hgclip.evaluation.aggregate.compare_summary`, :func:`hgclip.evaluation.comparison_report.write_reports`),
and with ``plots`` its ``comparison.png`` too (off by default: the plots cost most of a collection's time).
"""
from __future__ import annotations

import glob
import json
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ..evaluation.aggregate import compare_summary
from ..evaluation.comparison_report import comparison_markdown, write_reports
from ..runtime.run_dir import RESULTS_FILE
from .grid import paper_order

#: (protocol, glob under the output root, part by stage); fields: stage, dataset, [shots], cell, cfg, seed
LAYOUTS = (
    ("all", "compare/*/*/*/seed*", None),
    ("base2new", "base2new/*/*/shots_*/*/*/seed*", {"train_base": "base", "test_new": "new"}),
    ("xd", "xd/*/*/shots_*/*/*/seed*", {"train": "source", "test": "target"}),
)
_SEED = re.compile(r"^seed(-?\d+)$")


@dataclass
class Group:
    """The runs of one table: ``cells[cell] = [(seed, results), ...]``."""

    protocol: str
    dataset: str
    part: str = ""
    shots: str = ""
    cells: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        part = f" ({self.part})" if self.part else ""
        return f"{self.dataset}{part}"

    @property
    def folder(self) -> str:
        return osp.join(self.protocol, self.dataset + (f"_{self.part}" if self.part else ""))


def find_runs(output: str, protocols: Optional[Sequence[str]] = None) -> dict[tuple, Group]:
    """Every finished run's results under ``output``, grouped per table."""
    groups: dict[tuple, Group] = {}
    for protocol, pattern, parts in LAYOUTS:
        if protocols is not None and protocol not in protocols and not (protocol == "xd" and "dg" in protocols):
            continue
        for path in glob.glob(osp.join(glob.escape(output), pattern, RESULTS_FILE)):
            fields = osp.relpath(osp.dirname(path), output).split(osp.sep)
            seed_match = _SEED.match(fields[-1])
            if seed_match is None:
                continue
            cell, cfg = fields[-3], fields[-2]
            if parts is None:
                dataset, part, shots = fields[1], "", ""
            else:
                dataset, part, shots = fields[2], parts.get(fields[1], fields[1]), fields[3]
                if protocol == "xd":
                    part = ""  # a target's table; the source's results are its own dataset's
            with open(path, encoding="utf-8") as handle:
                results = json.load(handle)
            key = (protocol, dataset, part, shots)
            group = groups.setdefault(key, Group(protocol, dataset, part, shots))
            group.cells.setdefault(cell, []).append((int(seed_match.group(1)), results))
            group.configs.setdefault(cell, cfg)
    return groups


def summarise(group: Group) -> dict:
    """compare_summary of one group, columns in the paper's order, seeds in increasing order."""
    runs = {cell: [results for _, results in sorted(group.cells[cell], key=lambda item: item[0])]
            for cell in paper_order(list(group.cells))}
    return compare_summary(group.title, runs, group.configs)


def collect(output: str, protocols: Optional[Sequence[str]] = None,
            plots: bool = False) -> list[tuple[Group, dict, dict]]:
    """Write every group's reports under ``<output>/sweep/tables/`` (``plots``: with its PNG); return
    ``(group, comparison, paths)``."""
    written = []
    groups = find_runs(output, protocols)
    for key in sorted(groups):
        group = groups[key]
        try:
            comparison = summarise(group)
        except ValueError as error:
            raise SystemExit(f"{osp.join(output, group.protocol)}: {error}") from None
        paths = write_reports(comparison, osp.join(output, "sweep", "tables", group.folder), plot=plots)
        written.append((group, comparison, paths))
    return written


def render(written: Sequence[tuple[Group, dict, dict]]) -> str:
    """The tables as markdown, each followed by where its files are."""
    blocks = []
    for group, comparison, paths in written:
        shots = f", {group.shots.replace('_', ' ')}" if group.shots else ""
        blocks.append(f"{group.protocol}: {group.title}{shots}, top-1 (%) mean ± std over seeds\n\n"
                      f"{comparison_markdown([comparison])}\nhtml: {paths['html']}")
    return "\n\n".join(blocks)
