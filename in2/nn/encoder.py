"""Stem and downsample processing blocks (DPB): the encoder down to 1/8 resolution."""

from __future__ import annotations

import torch
from torch import nn

from .channel_attention import CAB
from .ffc import FFCResBlock


class Stem(nn.Module):
    """LaMa's input conv: reflect pad 3, Conv7x7 (no bias), BN, ReLU; keeps the size."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(c_in, c_out, 7, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            return self.body(x)
        # Inference: apply the frozen BN and ReLU in place, so only one full-resolution
        # 64-channel map exists at a time (the largest tensor of the whole forward pass).
        pad, conv, bn, _ = self.body
        y = conv(pad(x))
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        return y.mul_(scale[:, None, None]).add_(shift[:, None, None]).relu_()


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ffc(self.down(x))
        return y + self.cab(y)


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
            x = block(x)
        return x
