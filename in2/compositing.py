"""Putting a prediction into the hole of an image.

Pixels outside the hole are the user's own content: every function here returns them
bit-exact (``torch.where``, never ``m*a + (1-m)*b``, whose float rounding can change them).

``seamless_blend`` hides the seam between the fill and its surroundings. A classic
feathered paste blends the original image into the hole's edge, which both changes known
pixels (when the feather straddles the border) and brings back part of the content the
user asked to remove. Here the transition lies INSIDE the hole and is built from the
known pixels around it:

1. Colour matching: in a thin ring of known pixels around the hole, the prediction's
   per-channel mean and standard deviation are matched to the image's (the raw model
   output covers the whole image, so both are measured on the same pixels).
2. Edge correction: the remaining difference ``image - prediction`` on the ring is
   spread a few pixels into the hole (normalised box filter) and faded out over ``feather``
   pixels (linearly from a straight border), so the fill meets its surroundings at the
   border and is the colour-matched prediction deeper inside.
"""

from __future__ import annotations

import torch

from .errors import InputError
from .mask_prep import box_mean, dilate
from .regions import hole_box

__all__ = ["paste_into_hole", "seamless_blend", "default_feather", "prediction_reads"]


def _hole(mask: torch.Tensor) -> torch.Tensor:
    """Bool hole ``[B,1,H,W]`` (or broadcastable) from a bool or {0,1} float mask (>= 0.5 = fill)."""
    return mask if mask.dtype == torch.bool else mask >= 0.5


def _check_shapes(image: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor) -> None:
    if image.shape != prediction.shape:
        raise InputError(
            f"prediction shape {tuple(prediction.shape)} differs from image shape {tuple(image.shape)}: "
            "pass the model output for this image"
        )
    if mask.ndim != image.ndim or mask.shape[-2:] != image.shape[-2:] or mask.shape[-3] != 1:
        raise InputError(
            f"mask shape {tuple(mask.shape)} does not fit image shape {tuple(image.shape)}: "
            "pass a [B,1,H,W] (or [1,H,W]) mask of the image's size"
        )


def paste_into_hole(image: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mask * prediction + (1 - mask) * image`` with known pixels bit-exact.

    image, prediction: ``[B,3,H,W]`` (or ``[3,H,W]``); mask: ``[B,1,H,W]`` (or ``[1,H,W]``),
    bool or float {0,1} with 1 = fill. Differentiable in ``prediction`` (training uses it).
    """
    _check_shapes(image, prediction, mask)
    return torch.where(_hole(mask), prediction, image)


def default_feather(height: int, width: int) -> int:
    """Width in pixels of the blended band inside the hole: about 1/64 of the short side,
    between 2 and 32 (8 px for a 512-pixel face)."""
    return int(min(32, max(2, round(min(height, width) / 64))))


def prediction_reads(
    mask: torch.Tensor, blend: str = "none", feather: int | None = None, ring: int | None = None
) -> torch.Tensor:
    """Bool ``[B,1,H,W]``: the prediction pixels that compositing with ``blend`` reads.

    The model only has to produce these (``IN2.forward(decode_only=...)``): ``none`` reads the hole;
    ``seamless`` also reads the known ring around it (colour statistics and the border
    residual), ``ring`` pixels wide (default ``2 * feather``), as ``seamless_blend`` does.
    """
    hole = _hole(mask)
    if blend == "none":
        return hole
    height, width = mask.shape[-2:]
    feather = default_feather(height, width) if feather is None else int(feather)
    ring = 2 * feather if ring is None else int(ring)
    return dilate(hole.float(), max(ring, 1), "square") > 0.5


def seamless_blend(
    image: torch.Tensor,
    prediction: torch.Tensor,
    mask: torch.Tensor,
    feather: int | None = None,
    ring: int | None = None,
    max_gain: float = 2.0,
) -> torch.Tensor:
    """Composite with the seam hidden inside the hole; known pixels stay bit-exact.

    image, prediction: ``[B,3,H,W]`` float in [0,1]; mask ``[B,1,H,W]`` (1 = fill).
    feather: width of the corrected band inside the hole (default ``default_feather``).
    ring: width of the known ring used for colour statistics (default ``2 * feather``).
    max_gain: bound on the std ratio so a flat ring cannot blow up the fill's contrast.
    A hole without known pixels around it (full mask) gets the plain prediction.
    """
    squeeze = image.ndim == 3
    if squeeze:
        image, prediction, mask = image[None], prediction[None], mask[None]
    _check_shapes(image, prediction, mask)
    height, width = image.shape[-2:]
    feather = default_feather(height, width) if feather is None else int(feather)
    if feather < 1:
        raise InputError(f"feather must be >= 1 pixel, got {feather}")
    ring = 2 * feather if ring is None else int(ring)

    hole_bool = _hole(mask).expand(image.shape[0], 1, height, width)
    out = torch.where(hole_bool, prediction, image)  # outside the hole's box: nothing to blend
    # work on the hole's bounding box plus the ring: large photos usually have small holes
    near = hole_box(hole_bool, margin=ring + feather + 1)
    if near is not None:
        box = (..., *near.slices)
        out[box] = _blend_box(image[box], prediction[box], hole_bool[box], feather, ring, max_gain)
    return out[0] if squeeze else out


def _blend_box(
    image: torch.Tensor, prediction: torch.Tensor, hole_bool: torch.Tensor, feather: int, ring: int, max_gain: float
) -> torch.Tensor:
    """``seamless_blend`` on a crop that holds the whole hole and its ring."""
    work = torch.float32
    img = image.to(work)
    pred = prediction.to(work)
    hole = hole_bool.to(work)
    known = 1.0 - hole

    # 1. colour statistics on the known ring
    ring_map = dilate(hole, ring, "square") * known  # [B,1,H,W]
    count = ring_map.sum(dim=(2, 3), keepdim=True)
    has_ring = count > 0
    denom = count.clamp_min(1.0)
    mean_i = (img * ring_map).sum(dim=(2, 3), keepdim=True) / denom
    mean_p = (pred * ring_map).sum(dim=(2, 3), keepdim=True) / denom
    std_i = (((img - mean_i) ** 2) * ring_map).sum(dim=(2, 3), keepdim=True).div(denom).sqrt()
    std_p = (((pred - mean_p) ** 2) * ring_map).sum(dim=(2, 3), keepdim=True).div(denom).sqrt()
    gain = torch.where(std_p > 1e-4, std_i / std_p.clamp_min(1e-4), torch.ones_like(std_p))
    gain = gain.clamp(1.0 / max_gain, max_gain)
    matched = (pred - mean_p) * gain + mean_i
    matched = torch.where(has_ring, matched, pred)

    # 2. spread the residual at the border into the hole, fading over `feather` pixels
    near = dilate(hole, 1, "square") * known  # known pixels touching the hole
    residual = (img - matched) * near
    radius = feather
    num = box_mean(residual, radius)
    den = box_mean(near, radius)
    correction = torch.where(den > 1e-6, num / den.clamp_min(1e-6), torch.zeros_like(num))
    # twice the share of known pixels within `feather`: ~1 at a straight border, falling
    # linearly to 0 at `feather` pixels inside; 1 across strokes thinner than 2 * feather
    fade = (2.0 * box_mean(known, radius)).clamp(0.0, 1.0) * hole
    filled = (matched + correction * fade).clamp(0.0, 1.0).to(image.dtype)
    return torch.where(hole_bool, filled, image)
