"""Image-quality metrics of the evaluation protocol: PSNR, SSIM, masked PSNR, LPIPS-Alex.

Every metric is computed per image on what a user would save: the composited output,
clamped and rounded to uint8 (``quantize``), against the uint8 target, both in [0, 1].
- PSNR: data range 1; identical images are capped at 100 dB so averages stay finite.
- SSIM: Wang et al. 2004, Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, "valid" region
  (no padding), averaged over channels and positions (same as torchmetrics/skimage defaults
  with ``gaussian_weights=True``).
- Masked PSNR: the MSE only over hole pixels, which tracks the fill itself rather than the
  70-80% of pixels that are copied through.
- LPIPS v0.1 with AlexNet, only when both the AlexNet ImageNet file and the LPIPS linear-layer
  file are on disk (see ``perceptual.py`` for the search order); otherwise reported as n/a.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from in2.errors import WeightsError

from .perceptual import ALEXNET, find_weights, load_features, read_state_dict

MAX_PSNR = 100.0


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the uint8 grid (what a saved PNG holds)."""
    return torch.round(x.clamp(0, 1) * 255.0) / 255.0


def as_uint8(image: torch.Tensor) -> np.ndarray:
    """A [1, 3, H, W] or [3, H, W] image in [0, 1] as the H x W x 3 uint8 array a saved PNG holds."""
    image = image[0] if image.dim() == 4 else image
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for ``[B,C,H,W]`` in [0, 1]; returns ``[B]``."""
    mse = (pred.double() - target.double()).pow(2).flatten(1).mean(1)
    return torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-30)), torch.full_like(mse, MAX_PSNR)).float()


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR over hole pixels only (mask ``[B,1,H,W]``, 1 = hole); ``[B]``."""
    m = mask.double().expand_as(pred)
    se = (pred.double() - target.double()).pow(2) * m
    n = m.flatten(1).sum(1).clamp_min(1)
    mse = se.flatten(1).sum(1) / n
    return torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-30)), torch.full_like(mse, MAX_PSNR)).float()


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
          lpips: nn.Module | None = None) -> dict[str, torch.Tensor]:
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


# ---------------------------------------------------------------- LPIPS (AlexNet, v0.1)

LPIPS_ENV = "IN2_LPIPS_WEIGHTS"


def alexnet_features() -> nn.Sequential:
    """torchvision AlexNet ``features`` (indices match ``features.N.*`` keys)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )


def find_lpips_linear(explicit: str | Path | None = None) -> Path:
    """The LPIPS v0.1 ``alex.pth`` linear layers: explicit path, $IN2_LPIPS_WEIGHTS, the lpips package."""
    if explicit:
        return Path(explicit)
    if os.environ.get(LPIPS_ENV):
        return Path(os.environ[LPIPS_ENV])
    spec = importlib.util.find_spec("lpips")  # locate only: importing lpips needs torchvision
    if spec is not None and spec.origin:
        p = Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth"
        if p.is_file():
            return p
    raise WeightsError(f"LPIPS linear weights (alex.pth) not found: set {LPIPS_ENV} or `pip install lpips`")


class LPIPSAlex(nn.Module):
    """LPIPS v0.1 (Zhang et al. 2018) with AlexNet: unit-normalised features, learned channel weights."""

    TAPS = (1, 4, 7, 9, 11)
    CHANNELS = (64, 192, 384, 256, 256)

    def __init__(self, alexnet_weights: str | Path | None = None, linear_weights: str | Path | None = None) -> None:
        super().__init__()
        self.features = alexnet_features()
        load_features(self.features, find_weights(ALEXNET, alexnet_weights), ALEXNET)
        lin = read_state_dict(find_lpips_linear(linear_weights))
        self.lins = nn.ParameterList()
        for i, c in enumerate(self.CHANNELS):
            key = f"lin{i}.model.1.weight"
            if key not in lin or tuple(lin[key].shape) != (1, c, 1, 1):
                raise WeightsError(f"LPIPS linear file lacks {key} of shape (1, {c}, 1, 1)")
            self.lins.append(nn.Parameter(lin[key].float(), requires_grad=False))
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval()

    @torch.no_grad()
    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-image distance ``[B]`` for inputs in [0, 1]."""
        def feats(x: torch.Tensor) -> list[torch.Tensor]:
            h = ((x * 2 - 1) - self.shift) / self.scale
            out = []
            for i, layer in enumerate(self.features):
                h = layer(h)
                if i in self.TAPS:
                    out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
            return out

        total = torch.zeros(pred.shape[0], device=pred.device)
        for w, a, b in zip(self.lins, feats(pred), feats(target)):
            total = total + F.conv2d((a - b).pow(2), w).mean((1, 2, 3))
        return total


def try_lpips(device: torch.device | str = "cpu") -> tuple[LPIPSAlex | None, str]:
    """LPIPS model when its weights are on disk, else ``(None, reason)``; never downloads."""
    try:
        return LPIPSAlex().to(device), "ok"
    except WeightsError as e:
        return None, str(e)


def mean_finite(values: list[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else float("nan")
