"""Coarse to fine for holes wider than the network can see across.

Why: the network draws features only so far into a hole from its border. A hole whose centre
lies farther in than that (a whole face hidden in a close-up, both eyes of a large portrait)
comes back as a flat centre ringed by half-drawn features. Filled first at a scale where no hole
pixel is farther than ``reach`` pixels from a known one, the same network draws the whole part;
each finer pass (twice the size, up to the photo's own) then starts from the coarser fill,
upsampled, instead of the smooth pre-fill: the structure comes from the coarse pass, the detail
from the fine ones. Weights that pre-fill the hole ("smooth") take a guess; others skip this.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

#: The smallest side a coarse pass runs at: smaller, a face is a few pixels and nothing is drawn.
MIN_SIDE = 32
_MEASURE_SIDE = 256  # the inradius is measured on a copy at most this large: bounded cost at any size

#: ``predict(image, hole, guess)`` -> the network's prediction at the input's size (hole pixels at least).
Predict = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def hole_inradius(hole: torch.Tensor) -> float:
    """The farthest any hole pixel lies from a known one, in pixels (chessboard distance; the
    image's edge is not a known pixel). ``hole``: ``[..., H, W]``, True / > 0.5 = hole."""
    x = (hole > 0.5).float().reshape(-1, 1, *hole.shape[-2:]).amax(0, keepdim=True)
    step = max(1, math.ceil(max(x.shape[-2:]) / _MEASURE_SIDE))
    if step > 1:  # a cell is hole when most of it is
        x = (F.avg_pool2d(x, step, ceil_mode=True) >= 0.5).float()
    erosions = 0
    while x.any() and erosions < max(x.shape[-2:]):
        x = -F.max_pool2d(-x, 3, stride=1, padding=1)  # pads with +inf: the edge does not erode
        erosions += 1
    return float(erosions * step)


def coarse_levels(hole: torch.Tensor, reach: float, height: int, width: int) -> int:
    """How many halvings bring the hole's inradius within ``reach`` (the image kept >= ``MIN_SIDE``)."""
    radius = hole_inradius(hole)
    levels = 0
    while radius / 2**levels > reach and min(height, width) / 2 ** (levels + 1) >= MIN_SIDE:
        levels += 1
    return levels


def coarse_copy(image: torch.Tensor, hole: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` and ``hole`` brought down to ``size`` for a coarse pass: the image area-averaged,
    and a pixel partly in the hole a hole (float), so the hidden content never leaks into the pass."""
    small_hole = (F.interpolate(hole.float(), size=size, mode="area") > 0).float()
    return F.interpolate(image, size=size, mode="area"), small_hole


def coarse_guess(predict: Predict, image: torch.Tensor, hole: torch.Tensor, levels: int) -> torch.Tensor:
    """The hole filled at ``levels`` coarser scales, each pass starting from the one below, and
    brought to the image's size: the guess the full-size pass corrects. ``image`` [B,3,H,W],
    ``hole`` [B,1,H,W] float (1 = hole)."""
    if levels < 1:
        raise ValueError(f"coarse_guess needs at least one coarser level, got {levels}")
    height, width = image.shape[-2:]
    guess = None
    for level in range(levels, 0, -1):
        size = (math.ceil(height / 2**level), math.ceil(width / 2**level))
        small, small_hole = coarse_copy(image, hole, size)
        if guess is not None:
            guess = F.interpolate(guess, size=size, mode="bilinear", align_corners=False)
        guess = torch.lerp(small, predict(small, small_hole, guess).float(), small_hole)
    return F.interpolate(guess, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
