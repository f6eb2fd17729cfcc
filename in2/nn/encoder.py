"""Stem and downsample processing blocks (DPB): the encoder down to 1/8 resolution."""

from __future__ import annotations

import torch
from torch import nn

from .channel_attention import CAB
from .ffc import FFCResBlock


def _bn_relu_(y: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """Frozen BN + ReLU applied in place (inference only): saves one copy of a large map."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    return y.mul_(scale[:, None, None]).add_(shift[:, None, None]).relu_()


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
        return _bn_relu_(conv(x), bn)

    def process(self, y: torch.Tensor) -> torch.Tensor:
        """Everything after the stride-2 conv (FFC block, CAB residual)."""
        y = self.ffc(y)
        return y + self.cab(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.process(self.downsample(x))


class Encoder(nn.Module):
    """Stem + three DPBs; returns the 1/8-resolution feature map."""

    def __init__(self, c_in: int, widths: tuple[int, int, int], ffc_ratio: float, cab_compress: int, cab_squeeze: int) -> None:
        super().__init__()
        self.stem = Stem(c_in, widths[0])
        chans = (widths[0], *widths)
        self.blocks = nn.ModuleList(
            DPB(chans[i], chans[i + 1], ffc_ratio, cab_compress, cab_squeeze) for i in range(3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            # Two steps so the larger input map is released as soon as it is downsampled.
            x = block.downsample(x)
            x = block.process(x)
        return x
