"""Fast Fourier convolution (LaMa) without the local Fourier unit.

LaMa's LFU splits each axis in half and breaks on odd or non-square maps, which IN2 must
accept; it is therefore left out (the global branch still sees the whole map through its FFT).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import fused
from .fused import fold_bn, scaled
from .strips import conv3x3_reflect
from .traceable import irfft2_ortho, rfft2_ortho


class FourierUnit(nn.Module):
    """1x1 conv + BN + ReLU in the 2-D frequency domain: a global receptive field in one layer.

    The FFTs run in fp32 because half-precision FFTs fail on CPU and for non-power-of-two
    sizes on CUDA; the result is cast back to the input dtype.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 2 * channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h, w = x.shape[-2:]
        exporting = torch.onnx.is_in_onnx_export()  # the same transforms as matrix products (traceable)
        with torch.autocast(device_type=x.device.type, enabled=False):
            if exporting:
                y = torch.cat(rfft2_ortho(x.float()), dim=1)
            else:
                spec = torch.fft.rfftn(x.float(), dim=(-2, -1), norm="ortho")
                y = torch.cat([spec.real, spec.imag], dim=1)  # [B, 2C, h, w//2+1]
                del spec
            y = self.conv(y.to(self.conv.weight.dtype))
            y = F.relu(self.bn(y)) if torch.is_grad_enabled() or self.training else _bn_relu_(y, self.bn)
            y = y.float()
            real, imag = y.chunk(2, dim=1)
            if exporting:
                return irfft2_ortho(real, imag, h, w).to(dtype)
            spec = torch.complex(real, imag)
            del y, real, imag
            out = torch.fft.irfftn(spec, s=(h, w), dim=(-2, -1), norm="ortho")
        return out.to(dtype)


class SpectralTransform(nn.Module):
    """Global branch: 1x1 reduce to C/2, Fourier unit (with residual), 1x1 back to C."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = max(1, channels // 2)
        self.reduce = nn.Sequential(
            nn.Conv2d(channels, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True)
        )
        self.fourier = FourierUnit(half)
        self.expand = nn.Conv2d(half, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or self.training:
            x = self.reduce(x)
            return self.expand(x + self.fourier(x))
        return self.expand(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Inference: what ``expand`` reads (the reduced map plus its Fourier unit's output)."""
        conv, bn, _ = self.reduce
        x = fused.conv(x, *fold_bn(conv, bn), act="relu")
        return self.fourier(x).add_(x)


def _conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect", bias=False)


class FFC(nn.Module):
    """One FFC layer + per-branch BN + ReLU on a (local, global) channel split."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        self.global_channels = int(channels * ratio)
        local = channels - self.global_channels
        glob = self.global_channels
        self.l2l = _conv3x3(local, local)
        self.g2l = _conv3x3(glob, local)
        self.l2g = _conv3x3(local, glob)
        self.g2g = SpectralTransform(glob)
        self.bn_l = nn.BatchNorm2d(local)
        self.bn_g = nn.BatchNorm2d(glob)

    def forward(self, x_l: torch.Tensor, x_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled() or self.training:
            out_l = F.relu(self.bn_l(self.l2l(x_l) + self.g2l(x_g)))
            out_g = F.relu(self.bn_g(self.l2g(x_l) + self.g2g(x_g)))
            return out_l, out_g
        return self.infer([x_l, x_g])

    def infer(self, pair: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference on ``[x_l, x_g]``, which it empties so each input is freed once read (when
        the caller holds no other reference). BN is folded into the convolutions, each sum and
        ReLU fused into the second convolution of its pair, the 3x3 convolutions run in strips
        (no padded copy of a map), and the Fourier branch's temporaries come and go first."""
        x_l, x_g = pair
        pair.clear()
        (w_ll, w_gl), shift_l = scaled(self.bn_l, self.l2l, self.g2l)
        (w_lg, w_exp), shift_g = scaled(self.bn_g, self.l2g, self.g2g.expand)
        spectral = self.g2g.features(x_g)
        out_l = conv3x3_reflect(x_g, w_gl, shift_l)
        del x_g
        out_l = conv3x3_reflect(x_l, w_ll, None, act="relu", add=out_l)
        local = conv3x3_reflect(x_l, w_lg, shift_g)
        del x_l
        out_g = fused.conv(spectral, w_exp, None, act="relu", add=local)
        return out_l, out_g


class FFCResBlock(nn.Module):
    """LaMa's FFCResnetBlock: two FFC layers with a residual per branch. [B, C, H, W] in and out."""

    def __init__(self, channels: int, ratio: float = 0.75) -> None:
        super().__init__()
        self.first = FFC(channels, ratio)
        self.second = FFC(channels, ratio)
        self.local_channels = channels - self.first.global_channels

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """``inplace`` (inference only): add the residual into ``x`` itself, which the caller
        gives up; saves one map of the block's size."""
        x_l, x_g = x[:, : self.local_channels], x[:, self.local_channels :]
        if torch.is_grad_enabled() or self.training:
            y_l, y_g = self.second(*self.first(x_l, x_g))
            return torch.cat([x_l + y_l, x_g + y_g], dim=1)
        y_l, y_g = self.second.infer(list(self.first.infer([x_l, x_g])))  # the first's outputs freed early
        if inplace:
            x_l += y_l
            del y_l
            x_g += y_g
            return x
        return torch.cat([y_l.add_(x_l), y_g.add_(x_g)], dim=1)


def _bn_relu_(y: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """Frozen BN + ReLU applied in place (inference only): saves a copy of a large map."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    return y.mul_(scale[:, None, None]).add_(shift[:, None, None]).relu_()
