"""The full-resolution stages of the encoder, in horizontal strips (inference only).

Why: the stem's output is the largest map of the forward pass (64 channels at full size, 2 GiB
in fp32 for a 3840x2160 photo) and is read only by the first stride-2 convolution. Both are
local, so each strip of half-resolution output rows is computed from the input rows it reads
(a halo of one stem row above and below, the reflect padding rebuilt at the true borders):
the stem's output never exists whole and every strip stays in the CPU's cache between the two
convolutions. Each output value is the same sum as the whole-map convolution gives it.
BatchNorm (frozen) is folded into the convolutions and ReLU applied in place.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import fused
from .fused import fold_bn

# Stem pixels computed per strip: on the CPU 2^16 x 64 channels = 16 MiB in fp32, a band that
# stays in the cache; on a GPU 2^21 (512 MiB), few enough strips that kernel launches do not count.
STRIP_PIXELS = 1 << 16
STRIP_PIXELS_GPU = 1 << 21


def stem_then_down(
    x: torch.Tensor, stem: tuple[nn.Conv2d, nn.BatchNorm2d], down: tuple[nn.Conv2d, nn.BatchNorm2d],
    strip_pixels: int | None = None,
) -> torch.Tensor:
    """``relu(bn(down(reflect1(relu(bn(stem(reflect3(x))))))))`` for x [B, C, H, W] (H, W >= 4),
    computed a strip of output rows at a time: [B, C_down, ceil(H/2), ceil(W/2)], channels-last."""
    height, width = x.shape[-2:]
    pad = stem[0].kernel_size[0] // 2
    w_stem, b_stem = fold_bn(*stem)
    w_down, b_down = fold_bn(*down)
    w_stem, w_down = (w.contiguous(memory_format=torch.channels_last) for w in (w_stem, w_down))
    padded = F.pad(x, (pad,) * 4, mode="reflect").contiguous(memory_format=torch.channels_last)
    out_h, out_w = math.ceil(height / 2), math.ceil(width / 2)
    budget = strip_pixels or (STRIP_PIXELS if x.device.type == "cpu" else STRIP_PIXELS_GPU)
    rows = max(1, budget // (2 * width))
    out: torch.Tensor | None = None
    for r0 in range(0, out_h, rows):
        r1 = min(out_h, r0 + rows)
        first, stop = 2 * r0 - 1, 2 * r1  # stem rows the strip reads; -1 and H are reflect padding
        s0, s1 = max(first, 0), min(stop, height)
        band = fused.conv(padded[..., s0 : s1 + 2 * pad, :], w_stem, b_stem, act="relu", full_precision=True)
        # rows -1 and H reflect rows 1 and H-2
        band = _halo_band(band, band[..., 1:2, :] if first < 0 else None,
                          band[..., height - 2 - s0 : height - 1 - s0, :] if stop > height else None)
        out = _store(out, fused.conv(band, w_down, b_down, stride=2, act="relu"), r0, r1, (out_h, out_w))
    assert out is not None
    return out


def _halo_band(rows: torch.Tensor, above: torch.Tensor | None, below: torch.Tensor | None) -> torch.Tensor:
    """A strip's rows with the reflected border rows it needs (None inside the map), reflect
    padded by one column on each side, channels-last."""
    parts = [t for t in (above, rows, below) if t is not None]
    band = torch.cat(parts, dim=-2) if len(parts) > 1 else rows
    return F.pad(band, (1, 1, 0, 0), mode="reflect").contiguous(memory_format=torch.channels_last)


def _store(out: torch.Tensor | None, y: torch.Tensor, r0: int, r1: int, size: tuple[int, int]) -> torch.Tensor:
    """Write a strip's result into rows r0..r1 of the whole output (allocated on first use)."""
    if out is None:
        out = torch.empty(y.shape[0], y.shape[1], *size, dtype=y.dtype, device=y.device,
                          memory_format=torch.channels_last)
    out[..., r0:r1, :] = y
    return out


def conv3x3_reflect(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, act: str = "none",
    add: torch.Tensor | None = None, strip_pixels: int | None = None,
) -> torch.Tensor:
    """``act(conv3x3(reflect1(x), weight, bias) + add)``, a strip of rows at a time (H, W >= 2).

    The same sums as padding the whole map first, without the padded copy of the whole map
    (at 3840x2160 the 48 global channels of the first FFC would take 400 MiB more in fp32)."""
    height, width = x.shape[-2:]
    budget = strip_pixels or (STRIP_PIXELS if x.device.type == "cpu" else STRIP_PIXELS_GPU)
    rows = max(1, budget // width)
    if rows >= height:
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return fused.conv(padded, weight, bias, act=act, add=add)
    out: torch.Tensor | None = None
    for r0 in range(0, height, rows):
        r1 = min(height, r0 + rows)
        band = _halo_band(
            x[..., max(r0 - 1, 0) : min(r1 + 1, height), :],  # rows -1, H reflect 1, H-2
            x[..., 1:2, :] if r0 == 0 else None,
            x[..., height - 2 : height - 1, :] if r1 == height else None,
        )
        y = fused.conv(band, weight, bias, act=act, add=None if add is None else add[..., r0:r1, :])
        out = _store(out, y, r0, r1, (height, width))
    assert out is not None
    return out
