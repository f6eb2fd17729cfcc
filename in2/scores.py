"""How close a fill is to the photo: the one scoring module (PSNR, hole PSNR, SSIM).

Every score is computed per image on what a user would save: the composited output, clamped
and rounded to uint8 (``quantize``), against the uint8 target, both in [0, 1]. The trainer's
validation and evaluation protocol (``trainer/eval/metrics.py`` adds LPIPS) and the benchmark's
precision and crop measurements all score here: a core module, so training imports no benchmark.

- PSNR: data range 1; identical images are capped at ``MAX_PSNR`` dB so averages stay finite.
- SSIM: Wang et al. 2004, Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, "valid" region
  (no padding), averaged over channels and positions (same as torchmetrics/skimage defaults
  with ``gaussian_weights=True``).
- Masked PSNR: the MSE only over hole pixels, which tracks the fill itself rather than the
  70-80% of pixels that are copied through.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MAX_PSNR", "quantize", "as_uint8", "psnr", "masked_psnr", "ssim", "score"]

MAX_PSNR = 100.0


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the uint8 grid (what a saved PNG holds)."""
    return torch.round(x.clamp(0, 1) * 255.0) / 255.0


def as_uint8(image: torch.Tensor) -> np.ndarray:
    """A [1, 3, H, W] or [3, H, W] image in [0, 1] as the H x W x 3 uint8 array a saved PNG holds."""
    image = image[0] if image.dim() == 4 else image
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def _decibels(mse: torch.Tensor) -> torch.Tensor:
    """PSNR for data range 1 from per-image MSEs; a perfect match is capped at ``MAX_PSNR``."""
    return torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-30)), torch.full_like(mse, MAX_PSNR)).float()


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for ``[B,C,H,W]`` in [0, 1]; returns ``[B]``."""
    mse = (pred.double() - target.double()).pow(2).flatten(1).mean(1)
    return _decibels(mse)


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR over hole pixels only (mask ``[B,1,H,W]``, 1 = hole); ``[B]``."""
    m = mask.double().expand_as(pred)
    se = (pred.double() - target.double()).pow(2) * m
    n = m.flatten(1).sum(1).clamp_min(1)
    mse = se.flatten(1).sum(1) / n
    return _decibels(mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(pred: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM for ``[B,C,H,W]`` in [0, 1] (data range 1); returns ``[B]``.

    Images smaller than the window use a window as large as the image allows.
    """
    c = pred.shape[1]
    window = min(window, pred.shape[-2], pred.shape[-1])
    w = _gaussian_window(window, sigma).to(pred.device)[None, None].repeat(c, 1, 1, 1)
    x, y = pred.double(), target.double()
    c1, c2 = 0.01**2, 0.03**2

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1).float()


def score(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
          lpips: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Per-image ``[B]`` metrics of a composited output against its target, both as saved.

    The one scoring rule of training validation and the evaluation protocol: both images are
    quantised to uint8 first, then ``psnr``, ``ssim``, hole-only ``masked_psnr`` and, when an
    LPIPS model is given, ``lpips``.
    """
    out, ref = quantize(output.float()), quantize(target.float())
    scores = {"psnr": psnr(out, ref), "ssim": ssim(out, ref), "masked_psnr": masked_psnr(out, ref, mask)}
    if lpips is not None:
        scores["lpips"] = lpips(out, ref)
    return scores
