"""The tables of ``cli/bench.py``, from its JSON: printed after a run and written as a Markdown page.

One renderer serves the terminal and the documentation, so the recorded tables in
``docs/benchmarks/`` have exactly the format a run prints, and a new measurement replaces
them with ``python -m hgclip.cli.bench --json run.json --markdown docs/benchmarks/<name>.md``.
"""
from __future__ import annotations

from ..common.fileio import atomic_write_text

TEXT_PATHS = ("padded", "truncated", "shared_prefix", "length_packed", "fast")


def _table(rows: list, headers: list) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def setup_line(setup: dict) -> str:
    """One line saying what was measured where; fields a record lacks are left out."""
    arch = setup.get("architecture", {})
    layers = (f"{arch['transformer_layers']} text / {arch['vision_layers']} vision layers, "
              if {"transformer_layers", "vision_layers"} <= set(arch) else "")
    parts = [f"{setup['backbone']} ({'quick, ' if setup.get('quick') else ''}{layers}"
             f"{setup.get('weights', 'random weights').split(' (')[0]} weights, {setup['precision']})"]
    parts += [str(setup[key]) for key in ("device",) if key in setup]
    parts += [f"{setup['threads']} threads"] if "threads" in setup else []
    parts += [f"torch {setup['torch']}"] if "torch" in setup else []
    parts += [f"batch {setup['batch']}", str(setup["step_hierarchy"])]
    line = ", ".join(parts)
    if setup.get("load_average") is not None:
        line += f"; load average {setup['load_average']}"
    if "elapsed_s" in setup:
        line += f"; {setup['elapsed_s']} s"
    return line


def sections(out: dict) -> list[tuple[str, str]]:
    """(title, GitHub-style table) for each table of a run."""
    texts = out["text_speedup"]
    rows = [[f"{key} ({t['prompts']})", *(f"{t['ms'][p]['ms']:.1f}" for p in TEXT_PATHS), f"x{t['speedup']:.1f}",
             f"x{t['vs_truncation']:.2f}", f"{t['max_abs_diff']:.1e}"] for key, t in texts.items()]
    context = next(iter(texts.values()))["context_length"]
    text_table = _table(rows, ["names", f"padded {context}", "truncated", "prefix", "packed", "fast", "speed-up",
                               "vs truncated", "max abs diff"])
    steps_table = _table([[name, f"{row['ms']:.1f}", row["runs"], row["kind"]]
                          for name, row in out["per_trainer_step"].items()], ["trainer", "ms", "runs", "what"])
    official, evaluation = out["official_ratio"], out["eval_vs_image_encoder"]
    rows = [["floor_ratio (HGCLIP step / text+image fwd+bwd)", out["floor_ratio"]["ratio"]],
            ["hgclip_vs_maple (step time)", out["hgclip_vs_maple"]],
            ["peak_mem_vs_maple", out["peak_mem_vs_maple"]["ratio"]]]
    rows += [[f"official_ratio {key}", value["ratio"]] for key, value in official.items() if key.startswith("batch_")]
    rows += [["official re-statement vs MODE official: logits max rel diff", official["check"]["logits_max_rel_diff"]],
             [f"eval_vs_image_encoder (images/s, one pass of {evaluation['batch'] * evaluation['batches']} images)",
              evaluation["ratio"]],
             ["eval_vs_image_encoder (images/s, the batches alone, cache filled)", evaluation["per_batch_ratio"]]]
    rows = [[name, f"{value:.3g}"] for name, value in rows]
    rows += [[f"scaling {p['nodes']} nodes: step ms (x time / x nodes)",
              f"{p['ms']:.0f} ({p['time_ratio']:.2f} / {p['node_ratio']:.2f})"] for p in out["scaling"]["points"]]
    return [("Text encoder forward+backward (ms; speed-up = padded / fast)", text_table),
            ("One step per trainer", steps_table),
            ("Ratios", _table(rows, ["measure", "value"]))]


def print_tables(out: dict) -> None:
    """The terminal form: the setup line, then each table under its title."""
    print(f"\n{setup_line(out['setup'])}")
    for title, table in sections(out):
        print(f"\n{title}")
        print(table)


def render_markdown(out: dict, title: str = "cli/bench.py results") -> str:
    """A Markdown page: the title, the setup line, any note the record carries, then every table."""
    lines = [f"# {title}", "", f"Measured by `python -m hgclip.cli.bench`: {setup_line(out['setup'])}."]
    if out["setup"].get("note"):
        lines += ["", out["setup"]["note"]]
    for heading, table in sections(out):
        lines += ["", f"## {heading}", "", table]
    return "\n".join(lines) + "\n"


def write_markdown(out: dict, path: str, title: str = "cli/bench.py results") -> None:
    """Write :func:`render_markdown` atomically (the file a documentation page links)."""
    atomic_write_text(path, render_markdown(out, title))
