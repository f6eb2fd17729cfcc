"""Stem and downsample processing blocks (DPB): the encoder down to 1/8 resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import release_freed_memory
from . import fused
from .channel_attention import CAB
from .ffc import FFCResBlock, _bn_relu_, fold_bn
from .strips import stem_then_down


def _inference(module: nn.Module) -> bool:
    return not module.training and not torch.is_grad_enabled()


class Stem(nn.Module):
    """LaMa's input conv: reflect pad 3, Conv7x7 (no bias), BN, ReLU; keeps the size."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(c_in, c_out, 7, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _inference(self):
            return self.body(x)
        # The full-resolution 64-channel output is the largest map of the forward pass: at
        # inference one copy of it is enough.
        pad, conv, bn, _ = self.body
        return _bn_relu_(conv(pad(x)), bn)


class DPB(nn.Module):
    """Downsample (stride-2 conv), FFC residual block, CAB residual: [B,Ci,h,w] -> [B,Co,ceil(h/2),ceil(w/2)]."""

    def __init__(self, c_in: int, c_out: int, ffc_ratio: float, cab_compress: int, cab_squeeze: int) -> None:
        super().__init__()
        self.down = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, padding_mode="reflect", bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )
        self.ffc = FFCResBlock(c_out, ffc_ratio)
        self.cab = CAB(c_out, cab_compress, cab_squeeze)

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        if not _inference(self):
            return self.down(x)
        conv, bn, _ = self.down
        return fused.conv(F.pad(x, (1, 1, 1, 1), mode="reflect"), *fold_bn(conv, bn), stride=2, act="relu")

    def process(self, y: torch.Tensor) -> torch.Tensor:
        """Everything after the stride-2 conv (FFC block, CAB residual)."""
        if torch.is_grad_enabled():
            y = self.ffc(y)
            return y + self.cab(y)
        y = self.ffc(y, inplace=True)  # y is this block's own fresh map
        return self.cab(y).add_(y)  # in place: the CAB output is a fresh map

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.process(self.downsample(x))


class Encoder(nn.Module):
    """Stem + three DPBs; returns the 1/8-resolution feature map."""

    def __init__(
        self, c_in: int, widths: tuple[int, int, int], ffc_ratio: float, cab_compress: int, cab_squeeze: int
    ) -> None:
        super().__init__()
        self.stem = Stem(c_in, widths[0])
        chans = (widths[0], *widths)
        self.blocks = nn.ModuleList(
            DPB(chans[i], chans[i + 1], ffc_ratio, cab_compress, cab_squeeze) for i in range(3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _inference(self) and min(x.shape[-2:]) >= 4:
            # channels-last (oneDNN's native layout: 2-3x faster convolutions on the CPU); the
            # stem and the first downsample in strips, so the full-size stem map never exists
            first = self.blocks[0]
            x = stem_then_down(x, (self.stem.body[1], self.stem.body[2]), (first.down[0], first.down[1]))
            release_freed_memory(x.device)
            x = first.process(x)
            for block in self.blocks[1:]:
                release_freed_memory(x.device)
                x = block.process(block.downsample(x))
            return x
        x = self.stem(x)
        for block in self.blocks:
            # Two steps so the larger input map is released as soon as it is downsampled.
            x = block.downsample(x)
            x = block.process(x)
        return x
