"""Free-form brush strokes, and brush-stroke masks whose hole area lies in a chosen band.

The one stroke generator of the project: the trainer's training and evaluation masks
(``trainer/masks.py``) and the benchmark's brush holes (``in2.bench.holes``) draw with it.

The paper trains and tests on free-form masks covering 20-30% of the image. Raw brush-stroke
generators land in that band only 10-20% of the time, and growing a mask only until it reaches
the band's floor crowds the areas at the bottom (median 22%). So each mask draws its own target
area across the band and grows stroke by stroke until it crosses that target; the stroke that
crosses is redrawn a few times and the mask keeps the in-band state closest to the target. The
areas then spread evenly over the band (median ~25%). Stroke widths and lengths scale with
``sqrt(H*W)/512``, so one parameter set serves 256^2 crops and 1024^2 photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["MaskParams", "random_stroke", "draw_stroke", "brush_mask"]

# Alternatives to the stroke that crosses the target area: more = areas closer to the target.
_CROSSING_REDRAWS = 2
# Targets are drawn from the band widened by this fraction of its width on each side. Areas near
# an edge are reachable from one side only, so without it the outer 1% bins get ~30% fewer masks.
_TARGET_MARGIN = 0.1


@dataclass(frozen=True)
class MaskParams:
    """Brush-stroke parameters, stated at 512x512 and scaled to any size."""

    min_area: float = 0.20
    max_area: float = 0.30
    min_vertices: int = 4
    max_vertices: int = 18
    min_width: float = 12.0  # px at 512^2
    max_width: float = 48.0
    max_length: float = 60.0  # max segment length, px at 512^2
    max_angle: float = 2 * math.pi / 5  # max turn per segment
    max_tries: int = 200

    @classmethod
    def from_dict(cls, d: dict | None) -> MaskParams:
        d = dict(d or {})
        if "area" in d:  # convenience: area: [0.2, 0.3]
            d["min_area"], d["max_area"] = d.pop("area")
        return cls(**d)

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_area < self.max_area <= 1.0:
            raise ValueError(f"mask area band must satisfy 0 <= min < max <= 1, got [{self.min_area}, {self.max_area}]")


def random_stroke(rng: np.random.Generator, height: int, width: int, p: MaskParams,
                  scale: float) -> tuple[list[tuple[float, float]], int]:
    """One DeepFill-v2-style brush stroke: its polyline (inside the image) and its width in pixels."""
    n = int(rng.integers(p.min_vertices, p.max_vertices + 1))
    w = max(1, int(round(rng.uniform(p.min_width, p.max_width) * scale)))
    x, y = rng.uniform(0, width), rng.uniform(0, height)
    angle = rng.uniform(0, 2 * math.pi)
    points = [(x, y)]
    for _ in range(n):
        angle += rng.uniform(-p.max_angle, p.max_angle)
        length = rng.uniform(0.2, 1.0) * p.max_length * scale + w / 2
        x = float(np.clip(x + length * math.cos(angle), 0, width - 1))
        y = float(np.clip(y + length * math.sin(angle), 0, height - 1))
        points.append((x, y))
    return points, w


def draw_stroke(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], width: int) -> None:
    """Paint a polyline stroke (255) with round joins and round caps."""
    draw.line(points, fill=255, width=width, joint="curve")
    r = width / 2
    for px, py in (points[0], points[-1]):
        draw.ellipse([px - r, py - r, px + r, py + r], fill=255)


def _stroke(draw: ImageDraw.ImageDraw, rng: np.random.Generator, height: int, width: int, p: MaskParams,
            scale: float) -> None:
    draw_stroke(draw, *random_stroke(rng, height, width, p, scale))


def _hole_fraction(img: Image.Image, total: int) -> float:
    # Counting via histogram avoids a numpy copy per stroke.
    return img.histogram()[255] / total


def brush_mask(rng: np.random.Generator, height: int, width: int, params: MaskParams = MaskParams()) -> np.ndarray:
    """Return a bool ``H x W`` mask (True = hole) whose area lies in ``[min_area, max_area]``.

    Areas follow a target drawn per mask across the band, so they spread over all of it instead
    of stopping at its floor. Raises RuntimeError when ``max_tries`` attempts all miss the band
    (a band too narrow for the stroke sizes), instead of silently returning a mask outside it.
    """
    scale = math.sqrt(height * width) / 512.0
    total = height * width
    low, high = params.min_area, params.max_area
    margin = _TARGET_MARGIN * (high - low)
    for _ in range(params.max_tries):
        target = rng.uniform(low - margin, high + margin)
        img, area = Image.new("L", (width, height), 0), 0.0
        while True:
            before, before_area = img.copy(), area
            _stroke(ImageDraw.Draw(img), rng, height, width, params, scale)
            area = _hole_fraction(img, total)
            if area >= target:
                break
        candidates = [(before_area, before), (area, img)]
        for _ in range(_CROSSING_REDRAWS):
            alt = before.copy()
            _stroke(ImageDraw.Draw(alt), rng, height, width, params, scale)
            candidates.append((_hole_fraction(alt, total), alt))
        inside = [(abs(a - target), a, im) for a, im in candidates if low <= a <= high]
        if inside:
            return np.asarray(min(inside, key=lambda c: c[0])[2]) > 127
    raise RuntimeError(
        f"no brush mask of {width}x{height} fell in the area band [{params.min_area}, {params.max_area}] "
        f"after {params.max_tries} tries; widen the band or reduce the stroke width"
    )
