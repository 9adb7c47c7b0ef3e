"""Rendering of one HierShapes image: a coloured shape on a textured grey background.

Why it looks like this: the fine class (colour x shape) must be recoverable from the
pixels, but not trivially, so every image varies position, scale, rotation, colour
shade, background grey level and texture, and may carry a grey distractor. Shapes are
drawn at twice the output size and downsampled, which anti-aliases their edges.

Every random choice comes from the ``numpy.random.Generator`` passed in, so an image
is a pure function of (generator state, shape, colour).
"""
from __future__ import annotations

import colorsys
import math
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

Point = tuple[float, float]

# Base hue (degrees) of every colour; saturation/value are jittered per image.
COLOUR_HUES: dict[str, float] = {"red": 0.0, "yellow": 52.0, "green": 125.0, "blue": 225.0}
HUE_JITTER_DEG = 9.0
# Shapes are tilted, not spun freely: arbitrary rotations make shape too slow to learn
# for a tiny ViT trained from scratch in a few CPU minutes.
MAX_ROTATION_DEG = 30.0


def _rotate(points: list[Point], angle: float, cx: float, cy: float) -> list[Point]:
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    return [(cx + x * cos_a - y * sin_a, cy + x * sin_a + y * cos_a) for x, y in points]


def _regular(n: int, radius: float, phase: float = -math.pi / 2) -> list[Point]:
    return [(radius * math.cos(phase + 2 * math.pi * k / n), radius * math.sin(phase + 2 * math.pi * k / n)) for k in range(n)]


def _star_outline(points: int, outer: float, inner: float) -> list[Point]:
    out: list[Point] = []
    for k in range(2 * points):
        radius = outer if k % 2 == 0 else inner
        angle = -math.pi / 2 + math.pi * k / points
        out.append((radius * math.cos(angle), radius * math.sin(angle)))
    return out


def _cross_outline(r: float, w: float) -> list[Point]:
    return [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w)]


def _arrow_outline(r: float) -> list[Point]:
    shaft, head, neck = 0.16 * r, 0.5 * r, 0.15 * r
    return [(-r, -shaft), (neck, -shaft), (neck, -head), (r, 0.0), (neck, head), (neck, shaft), (-r, shaft)]


# Each drawer paints the shape (value 255) into an 'L' mask centred at (cx, cy)
# with nominal radius r and rotation angle (radians).
Drawer = Callable[[ImageDraw.ImageDraw, float, float, float, float], None]


def _draw_circle(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float) -> None:
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)


def _draw_ring(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float) -> None:
    inner = 0.58 * r
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    d.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=0)


def _polygon(outline: Callable[[float], list[Point]]) -> Drawer:
    def draw(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float) -> None:
        d.polygon(_rotate(outline(r), angle, cx, cy), fill=255)

    return draw


SHAPE_DRAWERS: dict[str, Drawer] = {
    "circle": _draw_circle,
    "ring": _draw_ring,
    "triangle": _polygon(lambda r: _regular(3, 1.1 * r)),
    "square": _polygon(lambda r: _regular(4, 0.95 * r, phase=math.pi / 4)),
    "star": _polygon(lambda r: _star_outline(5, 1.1 * r, 0.45 * r)),
    "cross": _polygon(lambda r: _cross_outline(r, 0.3 * r)),
    "bar": _polygon(lambda r: [(-r, -0.28 * r), (r, -0.28 * r), (r, 0.28 * r), (-r, 0.28 * r)]),
    "arrow": _polygon(_arrow_outline),
}


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Grey background: random level plus low-frequency blotches (grain is added later)."""
    level = rng.uniform(60.0, 200.0)
    coarse = (18.0 * rng.standard_normal((6, 6), dtype=np.float32)).astype(np.float32)
    blotches = np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC))
    return np.repeat((level + blotches)[:, :, None], 3, axis=2)


def _shape_colour(rng: np.random.Generator, colour: str) -> np.ndarray:
    hue = (COLOUR_HUES[colour] + rng.uniform(-HUE_JITTER_DEG, HUE_JITTER_DEG)) % 360.0
    sat = rng.uniform(0.55, 1.0)
    val = rng.uniform(0.5, 1.0)
    return 255.0 * np.array(colorsys.hsv_to_rgb(hue / 360.0, sat, val))


def _add_distractor(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A small grey blob or stroke, so that 'the only non-grey thing' is not the whole story."""
    size = canvas.shape[0]
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    x, y = rng.uniform(0.1, 0.9, size=2) * size
    r = rng.uniform(0.04, 0.09) * size
    if rng.random() < 0.5:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    else:
        angle = rng.uniform(0, math.pi)
        dx, dy = 2 * r * math.cos(angle), 2 * r * math.sin(angle)
        draw.line((x - dx, y - dy, x + dx, y + dy), fill=255, width=max(2, int(r / 2)))
    alpha = np.asarray(mask, dtype=np.float32)[:, :, None] / 255.0
    grey = np.float32(rng.uniform(20.0, 235.0))
    canvas *= 1.0 - alpha
    canvas += alpha * grey


def render_image(rng: np.random.Generator, shape: str, colour: str, size: int = 64, distractor_prob: float = 0.4) -> Image.Image:
    """Render one ``size`` x ``size`` RGB image of a ``colour`` ``shape``."""
    if shape not in SHAPE_DRAWERS:
        raise KeyError(f"unknown shape {shape!r}; expected one of {sorted(SHAPE_DRAWERS)}")
    if colour not in COLOUR_HUES:
        raise KeyError(f"unknown colour {colour!r}; expected one of {sorted(COLOUR_HUES)}")
    big = 2 * size
    canvas = _background(rng, big)
    if rng.random() < distractor_prob:
        _add_distractor(rng, canvas)

    radius = rng.uniform(0.25, 0.4) * big
    margin = 1.0 * radius
    cx, cy = rng.uniform(margin, big - margin, size=2)
    angle = math.radians(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    mask = Image.new("L", (big, big), 0)
    SHAPE_DRAWERS[shape](ImageDraw.Draw(mask), float(cx), float(cy), float(radius), float(angle))
    alpha = np.asarray(mask, dtype=np.float32)[:, :, None] / 255.0

    # A linear shading ramp across the shape keeps its colour from being one flat value.
    base = _shape_colour(rng, colour)
    ramp_dir = rng.uniform(0.0, 2 * math.pi)
    coords = np.arange(big, dtype=np.float32)
    ramp = ((coords[None, :] - cx) * math.cos(ramp_dir) + (coords[:, None] - cy) * math.sin(ramp_dir)) / big
    shade = 1.0 + rng.uniform(0.0, 0.5) * ramp[:, :, None]
    fill = base[None, None, :].astype(np.float32) * shade

    canvas = canvas * (1.0 - alpha) + fill * alpha
    image = Image.fromarray(np.clip(canvas, 0, 255).round().astype(np.uint8), mode="RGB")
    small = np.asarray(image.resize((size, size), Image.LANCZOS), dtype=np.float32)
    # Sensor-like grain at the output resolution, on shape and background alike.
    small = small + 8.0 * rng.standard_normal((size, size, 1), dtype=np.float32)
    return Image.fromarray(np.clip(small, 0, 255).round().astype(np.uint8), mode="RGB")
