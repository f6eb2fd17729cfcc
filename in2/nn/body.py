"""Attention body at 1/8 resolution: HAT's residual-group layout with neighborhood attention.

Neighborhood attention instead of HAT's window attention removes the multiple-of-window
size constraint, so the body accepts any map size.
"""

from __future__ import annotations

import torch
from torch import nn

from . import fused
from .attention import neighborhood_attention
from .channel_attention import CAB
from .ffc import FFCResBlock

# Tokens whose MLP runs at once at inference (x 1024 hidden channels = 64 MiB in fp32).
_MLP_TOKENS = 1 << 14
# Most q, k, v elements held at once at inference (2^24 = 64 MiB in fp32): large maps take the
# attention a few heads at a time.
_QKV_ELEMENTS = 1 << 24


def _linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(x)`` on channels-last tokens; one fused oneDNN call at inference on the CPU."""
    if torch.is_grad_enabled():
        return layer(x)
    return fused.linear(x.reshape(-1, x.shape[-1]), layer.weight, layer.bias).view(*x.shape[:-1], -1)


def _conv(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` for the body's 3x3 convolutions (zero padding 1); through ``fused`` at inference."""
    if torch.is_grad_enabled():
        return layer(x)
    return fused.conv(x, layer.weight, layer.bias, padding=1)


class NeighborhoodAttention(nn.Module):
    """Multi-head NA on channels-last tokens [B, H, W, C]: qkv Linear, NA, proj Linear."""

    def __init__(self, dim: int, heads: int, kernel: int) -> None:
        super().__init__()
        self.heads = heads
        self.kernel = kernel
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        dim = c // self.heads
        # heads are independent: at inference on a large map a few heads at a time, so q, k, v
        # (3x the map) never exist for all heads at once
        group = (
            self.heads
            if torch.is_grad_enabled()
            else max(1, min(self.heads, _QKV_ELEMENTS // (x.numel() * 3 // self.heads)))
        )
        if group >= self.heads:
            qkv = _linear(x, self.qkv).reshape(b, h, w, 3, self.heads, dim)
            q, k, v = qkv.unbind(dim=3)  # views: each backend copies what it needs, once
            out = neighborhood_attention(q, k, v, self.kernel).reshape(b, h, w, c)
        else:
            out = x.new_empty(b, h, w, c)
            weight = self.qkv.weight.view(3, self.heads, dim, c)
            bias = self.qkv.bias.view(3, self.heads, dim)
            for first in range(0, self.heads, group):
                heads = slice(first, min(self.heads, first + group))
                n = heads.stop - heads.start
                qkv = fused.linear(x.reshape(-1, c), weight[:, heads].reshape(-1, c), bias[:, heads].reshape(-1))
                q, k, v = qkv.view(b, h, w, 3, n, dim).unbind(dim=3)
                out[..., heads.start * dim : heads.stop * dim] = neighborhood_attention(q, k, v, self.kernel).reshape(
                    b, h, w, n * dim
                )
                del qkv, q, k, v
        return _linear(out, self.proj)


class NHAB(nn.Module):
    """Neighbor hybrid attention block: X_M = X + NA(LN X) + alpha*CAB(LN X); Y = X_M + MLP(LN X_M)."""

    def __init__(
        self, dim: int, heads: int, kernel: int, mlp_ratio: float, alpha: float, cab_compress: int, cab_squeeze: int
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighborhoodAttention(dim, heads, kernel)
        self.cab = CAB(dim, cab_compress, cab_squeeze)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xn = self.norm1(x)
        conv = self.cab(xn.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        if torch.is_grad_enabled():
            x = x + self.attn(xn) + self.alpha * conv
            return x + self.mlp(self.norm2(x))
        # inference: sums in place, and the MLP (4x wider than the map) a band of rows at a
        # time, so its hidden activations never exist for the whole map (tokens are independent)
        x = self.attn(xn).add_(x).add_(conv, alpha=self.alpha)
        del xn, conv
        rows = max(1, _MLP_TOKENS // (x.shape[0] * x.shape[2]))
        fc1, _, fc2 = self.mlp
        for top in range(0, x.shape[1], rows):
            band = x[:, top : top + rows]
            hidden = fused.linear(self.norm2(band).reshape(-1, x.shape[-1]), fc1.weight, fc1.bias, gelu=True,
                                  keep_reduced=True)
            band += fused.linear(hidden, fc2.weight, fc2.bias).view(band.shape)
        return x


class NHABGroup(nn.Module):
    """Residual group: G(T) = T + Conv3x3(NHAB^n(T)) on channels-last tokens."""

    def __init__(self, dim: int, depth: int, **block_kwargs) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(NHAB(dim, **block_kwargs) for _ in range(depth))
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for block in self.blocks:
            y = block(y)
        return x + _conv(self.conv, y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class AttentionBody(nn.Module):
    """LN -> groups -> LN -> Conv3x3 -> + input; [B, C, h, w] in and out."""

    def __init__(self, dim: int, groups: int, depth: int, **block_kwargs) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(dim)
        self.groups = nn.ModuleList(NHABGroup(dim, depth, **block_kwargs) for _ in range(groups))
        self.norm_out = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.norm_in(x.permute(0, 2, 3, 1))
        for group in self.groups:
            t = group(t)
        return x + _conv(self.conv, self.norm_out(t).permute(0, 3, 1, 2))


class FFCBody(nn.Module):
    """Ablation body (paper Table 7, "w/o NHAB"): the attention replaced by FFC residual blocks."""

    def __init__(self, dim: int, blocks: int, ratio: float) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(FFCResBlock(dim, ratio) for _ in range(blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)
