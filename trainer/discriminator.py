"""Spectral-norm PatchGAN discriminator (CoordFill/LaMa style) that also returns its features.

Returning the intermediate activations lets the feature-matching loss reuse the same forward
pass as the adversarial loss. It is fully convolutional, so it takes every ATS bucket shape.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """k4 convs: 3->64 s2, 64->128 s2, 128->256 s2, 256->512 s1, 512->1 s1; LeakyReLU 0.2; logits."""

    def __init__(self, in_channels: int = 3, base: int = 64, num_down: int = 3, use_spectral_norm: bool = True) -> None:
        super().__init__()
        sn = spectral_norm if use_spectral_norm else (lambda m: m)
        chans = [in_channels] + [base * 2**i for i in range(num_down + 1)]  # 3, 64, 128, 256, 512
        blocks = []
        for i in range(num_down + 1):
            stride = 2 if i < num_down else 1
            blocks.append(nn.Sequential(
                sn(nn.Conv2d(chans[i], chans[i + 1], 4, stride=stride, padding=1)),
                nn.LeakyReLU(0.2),
            ))
        self.blocks = nn.ModuleList(blocks)
        self.head = sn(nn.Conv2d(chans[-1], 1, 4, stride=1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return ``(logits [B,1,h,w], [activation of each block])``; input in [0, 1]."""
        return self.run(x)

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Same as ``forward``; under another name so Accelerate's autocast wrapper of ``forward``
        does not apply (R1 is computed in fp32)."""
        feats = []
        h = x * 2.0 - 1.0
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        return self.head(h), feats
