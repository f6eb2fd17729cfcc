"""A LaMa-Fourier-shaped generator with random weights: the yardstick of `python -m in2.bench --compare lama`.

Built from the description in the LaMa paper (Suvorov et al., WACV 2022) so that IN2's cost
can be compared with the usual fast-Fourier inpainting network on the same machine, inputs
and process. Only its shape matters here (about 27M parameters): it is never trained, and
nothing outside the benchmark uses it.

Layout: masked RGB + mask -> reflect pad 3, Conv7x7 to 64, BN, ReLU -> three stride-2 Conv3x3
downsamples (64 -> 128 -> 256 -> 512, BN, ReLU) -> 9 FFC residual blocks at 512 channels
(global ratio 0.75, the same block IN2's encoder uses) -> three stride-2 transposed Conv3x3
upsamples (512 -> 256 -> 128 -> 64, BN, ReLU) -> reflect pad 3, Conv7x7 to 3, sigmoid. The
input is padded to a multiple of 8 (as LaMa does) and the output cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.ffc import FFCResBlock


def _down(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _up(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class LaMaFourier(nn.Module):
    """[B,3,H,W] image + [B,1,H,W] mask (1 = hole) -> [B,3,H,W] prediction, any H, W >= 8."""

    def __init__(self, width: int = 64, blocks: int = 9, ratio: float = 0.75) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(4, width, 7, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        for i in range(3):
            layers += _down(width * 2**i, width * 2 ** (i + 1))
        layers += [FFCResBlock(width * 8, ratio) for _ in range(blocks)]
        for i in reversed(range(3)):
            layers += _up(width * 2 ** (i + 1), width * 2**i)
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, 3, 7), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        pad_h, pad_w = -height % 8, -width % 8
        mask = mask.to(image.dtype).expand(image.shape[0], -1, -1, -1)
        x = torch.cat([image * (1 - mask), mask], dim=1)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > 8 else "replicate")
        return self.net(x)[..., :height, :width]
