"""Write or check ``docs/reference/metrics.md``, the metrics reference rendered from :mod:`.metric_spec`.

    python -m hgclip.evaluation.metric_docs --write    # after changing the specification
    python -m hgclip.evaluation.metric_docs --check    # exit 1 when the page is not current (the tests check it too)
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

from ..common.fileio import atomic_write_text
from .metric_spec import DOCS_PAGE, render_docs

__all__ = ["docs_path", "main"]


def docs_path() -> str:
    """The page in this checkout (the repository root is the package root)."""
    return osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), DOCS_PAGE)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write {DOCS_PAGE}")
    action.add_argument("--check", action="store_true", help=f"exit 1 when {DOCS_PAGE} is not current")
    args = parser.parse_args(argv)
    text, path = render_docs(), docs_path()
    if args.write:
        atomic_write_text(path, text)
        print(f"wrote {path}")
        return 0
    if args.check:
        current = open(path, encoding="utf-8").read() if osp.isfile(path) else None
        if current != text:
            print(f"{path} is not current: run python -m hgclip.evaluation.metric_docs --write")
            return 1
        print(f"{path} is current")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
