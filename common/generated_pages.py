"""The command line of a documentation page that code renders (the metrics and configuration references).

``--write`` writes the page, ``--check`` exits 1 when the file differs from the rendering (the tests check
it too), and no option prints the rendering: one behaviour for every generated page.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

from .fileio import atomic_write_text


def page_command(render: Callable[[], str], path: str, module: str, description: str = "",
                 argv: Optional[Sequence[str]] = None) -> int:
    """Run ``python -m <module> [--write | --check]`` for the page at ``path`` rendered by ``render``; the exit code."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write {path}")
    action.add_argument("--check", action="store_true", help=f"exit 1 when {path} is not current")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        atomic_write_text(path, text)
        print(f"wrote {path}")
        return 0
    if args.check:
        current = open(path, encoding="utf-8").read() if osp.isfile(path) else None
        if current != text:
            print(f"{path} is not current: run python -m {module} --write")
            return 1
        print(f"{path} is current")
        return 0
    sys.stdout.write(text)
    return 0
