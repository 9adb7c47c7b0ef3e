"""Write or check ``docs/reference/metrics.md``, the metrics reference rendered from :mod:`.metric_spec`.

    python -m hgclip.evaluation.metric_docs --write    # after changing the specification
    python -m hgclip.evaluation.metric_docs --check    # exit 1 when the page is not current (the tests check it too)
"""
from __future__ import annotations

import os.path as osp
import sys
from typing import Optional, Sequence

from ..common.generated_pages import page_command
from .metric_spec import DOCS_PAGE, render_docs

__all__ = ["docs_path", "main"]


def docs_path() -> str:
    """The page in this checkout (the repository root is the package root)."""
    return osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), DOCS_PAGE)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return page_command(render_docs, docs_path(), "hgclip.evaluation.metric_docs", __doc__, argv)

if __name__ == "__main__":
    sys.exit(main())
