"""The command-line tools; ``setup.py`` installs each as a console command (``hgclip-train``, ...).

Each tool's ``main`` returns what it produced (for tests and callers); a console command only
needs its exit status, so the entry points below drop the return value.
"""
from __future__ import annotations

import importlib
from typing import Callable


def _console(module: str) -> Callable[[], None]:
    def run() -> None:
        importlib.import_module(f"{__name__}.{module}").main()

    run.__doc__ = f"The ``{module}`` tool as a console command."
    return run


train_command = _console("train")
base2new_command = _console("base2new")
def compare_command() -> None:
    """The ``compare`` tool as a console command (a refusal: one line, exit code 2)."""
    raise SystemExit(importlib.import_module(f"{__name__}.compare").console())
decoders_command = _console("eval_decoders")
xd_command = _console("xd")
parse_test_res_command = _console("parse_test_res")
bench_command = _console("bench")
config_command = _console("config_path")
