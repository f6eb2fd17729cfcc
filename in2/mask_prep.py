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
from .regions import label_regions

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


def _dilate(hole: torch.Tensor, radius: int) -> torch.Tensor:
    """Dilate by ``radius`` pixels with an octagon (alternating 3x3 square and cross steps,
    the usual round-enough stand-in for a disk), on the hole's box only."""
    rows = torch.nonzero(hole.any(dim=1)).flatten()
    cols = torch.nonzero(hole.any(dim=0)).flatten()
    if rows.numel() == 0 or radius <= 0:
        return hole.clone()
    height, width = hole.shape
    top, bottom = max(0, int(rows[0]) - radius), min(height, int(rows[-1]) + radius + 1)
    left, right = max(0, int(cols[0]) - radius), min(width, int(cols[-1]) + radius + 1)
    work = hole[top:bottom, left:right].float()[None, None]
    for step in range(radius):
        if step % 2 == 0:
            work = F.max_pool2d(work, 3, stride=1, padding=1)
        else:
            across = F.max_pool2d(work, (1, 3), stride=1, padding=(0, 1))
            work = torch.maximum(across, F.max_pool2d(work, (3, 1), stride=1, padding=(1, 0)))
    out = hole.clone()
    out[top:bottom, left:right] = work[0, 0] > 0
    return out


def grow_mask(hole: torch.Tensor, pixels: int) -> torch.Tensor:
    """The hole grown by ``pixels`` (shrunk for a negative count) with a round-ish brush.

    More steps than the photo's longer side change nothing more, so they are not taken."""
    pixels = max(-max(hole.shape), min(pixels, max(hole.shape)))
    if pixels >= 0:
        return _dilate(hole, pixels)
    return ~_dilate(~hole, -pixels)


def fill_enclosed(hole: torch.Tensor) -> torch.Tensor:
    """The hole plus every unmasked area it fully encloses (one that cannot reach the photo's
    edge without crossing the hole), e.g. specks left unpainted inside a stroke."""
    rows = torch.nonzero(hole.any(dim=1)).flatten()
    cols = torch.nonzero(hole.any(dim=0)).flatten()
    if rows.numel() == 0:
        return hole.clone()
    height, width = hole.shape
    # outside the hole's box plus a one-pixel frame everything reaches the edge
    top, bottom = max(0, int(rows[0]) - 1), min(height, int(rows[-1]) + 2)
    left, right = max(0, int(cols[0]) - 1), min(width, int(cols[-1]) + 2)
    known = ~hole[top:bottom, left:right]
    labels, count = label_regions(known)
    if count == 0:
        return hole.clone()
    frame = torch.cat([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    outside = torch.unique(frame[frame >= 0])
    enclosed = known & ~torch.isin(labels, outside)
    out = hole.clone()
    out[top:bottom, left:right] |= enclosed
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
