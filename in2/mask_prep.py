"""Mask preparation before inpainting: grow the hole, fill what it encloses.

Hand-painted and detector masks usually hug the object too tightly (a halo of the old
content stays around the fill) or leave specks unpainted inside a stroke. Growing the hole
and filling enclosed gaps fixes both in the core, so the CLI, the nodes and the demo agree.
(The soft-mask threshold is applied while masks are read: ``in2.imaging.masks.read_masks``.)
Everything works on ``[H,W]`` bool torch tensors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import InputError
from .numbers import as_float
from .regions import hole_box, label_regions

__all__ = ["MaskPrep", "parse_grow", "grow_mask", "fill_enclosed", "check_threshold", "MAX_GROW", "MAX_GROW_PERCENT"]

Grow = int | float | str
_PERCENT = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")
#: Bounds on ``grow`` (pixels, and percent of the shorter side): growing takes one step per
#: pixel, and a larger grow would cover a whole photo anyway. They keep every run finite.
MAX_GROW = 1024
MAX_GROW_PERCENT = 50.0
_GROW_RULE = (f"pixels from -{MAX_GROW} to {MAX_GROW} (e.g. 8) or a percentage of the photo's shorter side "
              f"from -{MAX_GROW_PERCENT:g}% to {MAX_GROW_PERCENT:g}% (e.g. '1.5%')")


def parse_grow(grow: Grow) -> tuple[float, bool]:
    """``(amount, relative)``: pixels, or a percentage of the photo's shorter side for ``"N%"``,
    within ``MAX_GROW`` / ``MAX_GROW_PERCENT``."""
    relative = False
    if isinstance(grow, str):
        match = _PERCENT.match(grow)
        text = match.group(1) if match else grow.strip()
        relative = bool(match)
        try:
            amount = float(text)
        except ValueError:
            raise InputError(f"grow must be {_GROW_RULE}, got {grow!r}") from None
    else:
        amount = as_float(grow, "grow", _GROW_RULE)
    if not math.isfinite(amount) or abs(amount) > (MAX_GROW_PERCENT if relative else MAX_GROW):
        raise InputError(f"grow must be {_GROW_RULE}, got {grow!r}")
    return amount, relative


def check_threshold(threshold: float) -> float:
    """A soft-mask threshold in (0, 1]: values at or above it are filled."""
    rule = "in (0, 1] (mask values at or above it are filled)"
    value = as_float(threshold, "threshold", rule)
    if not 0 < value <= 1:
        raise InputError(f"threshold must be {rule}, got {threshold!r}")
    return value


def _box_sum_axis(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Sum over a window of ``2 * radius + 1`` along ``dim`` (zeros outside), from a cumulative
    sum: the cost does not grow with the radius."""
    k = 2 * radius + 1
    pad = [0, 0, 0, 0]
    pad[(-1 - dim) * 2 : (-1 - dim) * 2 + 2] = [radius + 1, radius]
    total = F.pad(x, pad).cumsum(dim)
    n = x.shape[dim]
    return total.narrow(dim, k, n) - total.narrow(dim, 0, n)


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)^2`` square (zeros outside the image) of ``[..., H, W]``, in float64
    so the running sums stay exact on large images."""
    k = 2 * radius + 1
    out = _box_sum_axis(_box_sum_axis(x.double(), radius, -2), radius, -1)
    return (out / (k * k)).to(x.dtype)


DILATIONS = ("octagon", "square")


def dilate(hole: torch.Tensor, radius: int, shape: str = "octagon") -> torch.Tensor:
    """``hole`` (``[..., H, W]``, bool or a {0, 1} float map) grown by ``radius`` pixels, same dtype.

    octagon: alternating 3x3 square and cross steps, the usual round-enough stand-in for a disk
    (how ``grow`` moves a mask's edge); square: every pixel within ``radius`` along both axes,
    from box sums whose cost does not grow with the radius (the bands of seamless blending).
    Only the hole's box grown by ``radius`` is worked on: nothing outside it can change."""
    if shape not in DILATIONS:
        raise ValueError(f"unknown dilation {shape!r}; use one of {DILATIONS}")
    box = hole_box(hole if hole.dtype == torch.bool else hole > 0.5, margin=radius) if radius > 0 else None
    if box is None:
        return hole.clone()
    work = hole[..., box.top : box.bottom, box.left : box.right]
    if shape == "square":
        k = 2 * radius + 1
        grown = box_mean(work.double(), radius) * (k * k) > 0.5
    else:
        flat = work.float().reshape(-1, 1, box.height, box.width)
        for step in range(radius):
            if step % 2 == 0:
                flat = F.max_pool2d(flat, 3, stride=1, padding=1)
            else:
                across = F.max_pool2d(flat, (1, 3), stride=1, padding=(0, 1))
                flat = torch.maximum(across, F.max_pool2d(flat, (3, 1), stride=1, padding=(1, 0)))
        grown = (flat > 0).reshape(work.shape)
    out = hole.clone()
    out[..., box.top : box.bottom, box.left : box.right] = grown.to(hole.dtype)
    return out


def grow_mask(hole: torch.Tensor, pixels: int) -> torch.Tensor:
    """The hole grown by ``pixels`` (shrunk for a negative count) with a round-ish brush.

    More steps than the photo's longer side change nothing more, so they are not taken."""
    pixels = max(-max(hole.shape), min(pixels, max(hole.shape)))
    if pixels >= 0:
        return dilate(hole, pixels)
    return ~dilate(~hole, -pixels)


def fill_enclosed(hole: torch.Tensor) -> torch.Tensor:
    """The hole plus every unmasked area it fully encloses (one that cannot reach the photo's
    edge without crossing the hole), e.g. specks left unpainted inside a stroke."""
    box = hole_box(hole, margin=1)  # outside the hole's box plus a one-pixel frame everything reaches the edge
    if box is None:
        return hole.clone()
    known = ~hole[box.slices]
    labels, count = label_regions(known)
    if count == 0:
        return hole.clone()
    frame = torch.cat([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    outside = torch.unique(frame[frame >= 0])
    enclosed = known & ~torch.isin(labels, outside)
    out = hole.clone()
    out[box.slices] |= enclosed
    return out


@dataclass(frozen=True)
class MaskPrep:
    """What to do to each mask before inpainting (the defaults change nothing).

    grow: pixels to grow the hole by (negative shrinks it), or ``"N%"`` of the photo's
    shorter side. fill_holes: also fill unmasked areas the hole encloses (done before growing).
    threshold: soft masks are filled where their value is at least this (read time).
    """

    grow: Grow = 0
    fill_holes: bool = False
    threshold: float = 0.5

    def __post_init__(self) -> None:
        parse_grow(self.grow)
        object.__setattr__(self, "threshold", check_threshold(self.threshold))
        if not isinstance(self.fill_holes, bool):
            fill = getattr(self.fill_holes, "item", lambda: self.fill_holes)()
            if not isinstance(fill, bool):
                raise InputError(f"fill_holes must be True or False, got {self.fill_holes!r}")
            object.__setattr__(self, "fill_holes", fill)

    def grow_pixels(self, height: int, width: int) -> int:
        amount, relative = parse_grow(self.grow)
        if relative:
            amount = amount / 100 * min(height, width)
        return int(round(amount))

    @property
    def changes_masks(self) -> bool:
        return self.fill_holes or parse_grow(self.grow)[0] != 0

    def apply(self, hole: torch.Tensor) -> torch.Tensor:
        """The ``[H,W]`` bool hole that is actually filled."""
        if self.fill_holes:
            hole = fill_enclosed(hole)
        pixels = self.grow_pixels(*hole.shape)
        return grow_mask(hole, pixels) if pixels else hole
