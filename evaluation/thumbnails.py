"""Small inline thumbnails of test images, for the HTML report's confusion examples.

The report must open with no network and no other file, so each example image travels inside the
page as a base64 JPEG of a few kilobytes. An image that cannot be read (moved, deleted, not an
image) is skipped: a report is never refused for its illustrations.
"""
from __future__ import annotations

import base64
import io
from typing import Optional

__all__ = ["thumbnail_base64"]

DEFAULT_SIZE = 64
JPEG_QUALITY = 75


def thumbnail_base64(path: Optional[str], size: int = DEFAULT_SIZE) -> Optional[str]:
    """The image at ``path`` shrunk to fit ``size`` x ``size`` pixels, as base64 JPEG; None when unreadable."""
    if not path:
        return None
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster for large photos
            small = image.convert("RGB")
            small.thumbnail((size, size))
            buffer = io.BytesIO()
            small.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # missing, unreadable, not an image
        return None
    return base64.b64encode(buffer.getvalue()).decode("ascii")
