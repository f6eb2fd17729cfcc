"""Image-quality metrics of the evaluation protocol: PSNR, SSIM, masked PSNR (``in2.scores``,
re-exported here) and LPIPS-Alex (here: it needs the trainer's pretrained feature files).

Every metric is computed per image on what a user would save (see ``in2.scores``).
LPIPS v0.1 with AlexNet, only when both the AlexNet ImageNet file and the LPIPS linear-layer
  file are on disk (see ``perceptual.py`` for the search order); otherwise reported as n/a.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from in2.errors import WeightsError
from in2.scores import MAX_PSNR, as_uint8, masked_psnr, psnr, quantize, score, ssim  # noqa: F401 (re-exported)
from trainer.perceptual import ALEXNET, find_weights, load_features, read_state_dict

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
        for w, a, b in zip(self.lins, feats(pred), feats(target), strict=True):
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
