"""Benchmark holes of a chosen shape and area: `--hole brush:0.05,spots:0.01,box:0.25,1.0`.

Hole-aware decoding makes IN2's cost depend on the hole, so the benchmark has to say which
hole it timed. Three shapes, all seeded and drawn at the image's own size:
- ``brush``: the trainer's brush strokes, drawn a segment at a time until the area is
  reached (a scribble over an unwanted object);
- ``spots``: round spots of ~4% of the image's diagonal scale (blemishes, small logos);
- ``box``: one centred rectangle of the image's aspect ratio.
An area of 1.0 is the full mask whatever the shape. The area reached is measured and
reported, since strokes and spots overshoot the target by up to one segment or spot.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..imaging.strokes import MaskParams, draw_stroke, random_stroke

SHAPES = ("brush", "spots", "box")


@dataclass(frozen=True)
class HoleSpec:
    """A hole shape and the fraction of the image it should cover."""

    shape: str
    area: float

    @property
    def name(self) -> str:
        return "full" if self.area >= 1.0 else f"{self.shape} {self.area:.0%}"


def parse_holes(text: str) -> list[HoleSpec]:
    """'brush:0.05,spots:0.01,0.25,full' -> specs; a bare number is a brush hole."""
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if item == "full":
            specs.append(HoleSpec("box", 1.0))
            continue
        shape, _, area = item.rpartition(":")
        shape = shape or "brush"
        try:
            value = float(area)
        except ValueError:
            raise ValueError(f"hole {item!r}: the area must be a number in (0, 1], like brush:0.05") from None
        if shape not in SHAPES or not 0.0 < value <= 1.0:
            raise ValueError(f"hole {item!r}: use SHAPE:AREA with SHAPE one of {', '.join(SHAPES)} and 0 < AREA <= 1")
        specs.append(HoleSpec(shape, value))
    return specs


# Brush holes: the trainer's strokes (``in2.imaging.strokes``) with a fixed width of about 3%
# of the image's diagonal and short segments, so a hole overshoots its area by one segment at most.
BRUSH = MaskParams(min_vertices=6, max_vertices=15, min_width=21.7, max_width=21.7, max_length=36.0, max_angle=1.2)


def _brush(draw: ImageDraw.ImageDraw, img: Image.Image, rng: np.random.Generator, target: int, scale: float) -> None:
    """Strokes drawn a segment at a time until the hole covers ``target`` pixels."""
    height, width = img.height, img.width
    while img.histogram()[255] < target:
        points, stroke = random_stroke(rng, height, width, BRUSH, math.sqrt(height * width) / 512.0)
        for segment in itertools.pairwise(points):
            draw_stroke(draw, list(segment), stroke)
            if img.histogram()[255] >= target:
                return


def _spots(draw: ImageDraw.ImageDraw, img: Image.Image, rng: np.random.Generator, target: int, scale: float) -> None:
    while img.histogram()[255] < target:
        r = rng.uniform(0.02, 0.05) * scale
        x, y = rng.uniform(r, max(r, img.width - r)), rng.uniform(r, max(r, img.height - r))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)


def hole_mask(spec: HoleSpec, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """[1, 1, H, W] float mask (1 = hole) of the spec's shape covering about its area."""
    if spec.area >= 1.0:
        return torch.ones(1, 1, height, width)
    target = max(1, round(spec.area * height * width))
    if spec.shape == "box":
        side = math.sqrt(spec.area)
        bh, bw = math.ceil(height * side), math.ceil(width * side)  # at least the area
        top, left = (height - bh) // 2, (width - bw) // 2
        mask = torch.zeros(1, 1, height, width)
        mask[..., top : top + bh, left : left + bw] = 1
        return mask
    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(seed)
    scale = math.hypot(height, width)
    (_brush if spec.shape == "brush" else _spots)(draw, img, rng, target, scale)
    return torch.from_numpy(np.asarray(img) > 127).float()[None, None]
