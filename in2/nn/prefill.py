"""The smooth hole pre-fill (computed as a multigrid membrane interpolation) from the known pixels only.

Why: with a zero-filled hole a small network spends most of its training learning to carry the
surrounding colours inward, something a content-blind interpolation does for free. Given this
guess as input and as the base of its output, the generator only learns the correction (a
residual), which converges far faster on a small compute budget. The paper's input (zeros in the
hole) stays the default (`IN2Config.hole_prefill = "zeros"`).

The guess is the membrane (Laplace) interpolation of the hole's border, solved coarse to fine:
halve the known colours (premultiplied by how well each pixel is known) and their weights down to
one pixel; then from the coarsest level up, upsample the guess, keep each pixel's own colour to
the extent it is known, and relax the rest towards the mean of its neighbours a few times.
Known pixels come back exactly, the hole's content is never read, any size from 1x1 works on
any device, and memory is a few copies of the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..options import PREFILL_MODES
from ..regions import hole_box


def _neighbour_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of the 4 neighbours (the discrete Laplace stencil); the border repeats itself."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return (p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]) * 0.25


def smooth_prefill(image: torch.Tensor, mask: torch.Tensor, steps: int = 64) -> torch.Tensor:
    """image [B,C,H,W], mask [B,1,H,W] (1 = hole) -> image with the hole smoothly filled.

    A hole that covers the whole image gets 0 (nothing is known to spread)."""
    known = (1 - mask).clamp(0, 1)
    colours, weights = [image * known], [known]
    while colours[-1].shape[-2] > 1 or colours[-1].shape[-1] > 1:
        colours.append(F.avg_pool2d(colours[-1], 2, ceil_mode=True, count_include_pad=False))
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True, count_include_pad=False))
    guess = colours[-1] / weights[-1].clamp_min(1e-8)
    for colour, weight in zip(reversed(colours[:-1]), reversed(weights[:-1]), strict=True):
        guess = F.interpolate(guess, size=colour.shape[-2:], mode="bilinear", align_corners=False)
        unknown = 1 - weight
        guess = colour + guess * unknown  # colour is premultiplied: own colour x how well it is known
        # Outside the box of not-fully-known pixels plus a 1-pixel known margin nothing changes
        # during relaxation (known pixels keep their colour): relaxing only the box gives the same.
        box = hole_box(weight < 1, margin=1)
        if box is not None and steps:
            guess = guess.clone()
            sub, col, unk = (t[..., box.top : box.bottom, box.left : box.right] for t in (guess, colour, unknown))
            relax = _relax if torch.is_grad_enabled() else _relax_in_place
            guess[..., box.top : box.bottom, box.left : box.right] = relax(sub, col, unk, steps)
    return guess


def _relax(x: torch.Tensor, colour: torch.Tensor, unknown: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` times: each pixel becomes its own colour plus the neighbours' mean x how unknown it is."""
    for _ in range(steps):
        x = torch.addcmul(colour, _neighbour_mean(x), unknown)
    return x


def _relax_in_place(x: torch.Tensor, colour: torch.Tensor, unknown: torch.Tensor, steps: int) -> torch.Tensor:
    """``_relax`` without autograd, bit for bit: the map lives inside one padded buffer whose border
    is refreshed each step, and the sums reuse one buffer, so a step is a few passes over the map
    and no allocation (at 3840x2160 the pre-fill took half of the bundled model's time)."""
    height, width = x.shape[-2:]
    padded = x.new_empty(*x.shape[:-2], height + 2, width + 2)
    inner = padded[..., 1:-1, 1:-1]
    inner.copy_(x)
    total = torch.empty_like(x)
    quarter = unknown * 0.25  # exact: a power of two, so (sum * 0.25) * u == sum * (u * 0.25)
    for _ in range(steps):
        padded[..., 0, 1:-1] = padded[..., 1, 1:-1]  # the border repeats itself, as F.pad "replicate"
        padded[..., -1, 1:-1] = padded[..., -2, 1:-1]
        padded[..., :, 0] = padded[..., :, 1]
        padded[..., :, -1] = padded[..., :, -2]
        torch.add(padded[..., :-2, 1:-1], padded[..., 2:, 1:-1], out=total)
        total.add_(padded[..., 1:-1, :-2]).add_(padded[..., 1:-1, 2:])
        torch.addcmul(colour, total, quarter, out=inner)
    return inner


def prefill(image: torch.Tensor, mask: torch.Tensor, mode: str, steps: int = 64) -> torch.Tensor:
    """The generator's masked input: known pixels kept, the hole zeroed ("zeros") or pre-filled ("smooth")."""
    blanked = image * (1 - mask)
    if mode == "zeros":
        return blanked
    if mode == "smooth":
        return smooth_prefill(blanked, mask, steps)
    raise ValueError(f"unknown hole_prefill {mode!r}; use one of {PREFILL_MODES}")
