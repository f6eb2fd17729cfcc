"""HAT's channel attention block (CAB): a cheap global-context path next to local attention."""

from __future__ import annotations

import torch
from torch import nn

from . import fused


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: rescale channels by a gate computed from their global mean."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        hidden = max(1, channels // squeeze)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return x * self.gate(x)
        return x.mul_(self.gate(x))  # inference: x is the CAB's own fresh conv output


class CAB(nn.Module):
    """Conv3x3 (C -> C/compress), GELU, Conv3x3 (-> C), channel attention. [B, C, H, W] in and out."""

    def __init__(self, channels: int, compress: int = 3, squeeze: int = 30) -> None:
        super().__init__()
        mid = max(1, channels // compress)
        self.body = nn.Sequential(
            nn.Conv2d(channels, mid, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(mid, channels, 3, padding=1),
            ChannelAttention(channels, squeeze),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.body(x)
        first, _, second, gate = self.body  # inference: GELU fused into the first convolution
        y = fused.conv(x, first.weight, first.bias, act="gelu", padding=1)
        return gate(fused.conv(y, second.weight, second.bias, padding=1))
