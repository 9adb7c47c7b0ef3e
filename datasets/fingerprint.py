"""One fingerprint of split listings, for everything that must notice a changed listing.

Three things compare listings of images: the few-shot cache (was the draw made from this split?), the
node-prototype cache key (were these prototypes computed from these training images?) and a run's
``inputs.json`` / the check that every process lists the same training split. They all use
:func:`listing_fingerprint`, so "the same listing" means one thing everywhere.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Iterable


def listing_fingerprint(*listings: Iterable[Any], root: str = "", file_stats: bool = False) -> str:
    """sha256 (hex) of one or more listings of ``Datum``-like items (``impath``, ``label``, ``classname``).

    Definition: for each listing in order, one line per item ``<path>\\t<label>\\t<classname>\\n``, then the
    line ``--\\n`` (so moving an item from one listing to the next changes it). ``path`` is relative to
    ``root`` (moving a dataset root keeps the value), or as given when ``root`` is ``""``. Order matters:
    a listing's order decides batches and the few-shot draw.

    ``file_stats=True`` appends each file's size and modification time (ns) to its line, ``missing`` when it
    cannot be read: they stand for the contents, so an image replaced in place changes the value (for
    caches of what was computed from the pixels). Without it only the listing counts, which is what
    separate processes and moved copies can agree on.
    """
    digest = hashlib.sha256()
    for listing in listings:
        for item in listing:
            path = os.path.relpath(item.impath, root) if root else item.impath
            line = f"{path}\t{int(item.label)}\t{item.classname}"
            if file_stats:
                try:
                    stat = os.stat(item.impath)
                    line += f"\t{stat.st_size}\t{stat.st_mtime_ns}"
                except OSError:
                    line += "\tmissing"
            digest.update(f"{line}\n".encode("utf-8"))
        digest.update(b"--\n")
    return digest.hexdigest()


__all__ = ["listing_fingerprint"]
