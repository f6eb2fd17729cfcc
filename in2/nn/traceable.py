"""The two kernels of the forward pass that an ONNX export cannot take as they are, written
with plain tensor operations whose sizes come from the tensors themselves.

Why: the TorchScript exporter has no ONNX form for ``torch.fft.rfftn``/``irfftn``, and the
portable neighborhood attention builds a tile plan from Python integers, which an export would
freeze at the example's size. Both functions here compute the same values (to float rounding)
at any height and width, and every size they use is read from a tensor's shape at run time,
so one exported graph serves every H x W. They run only while ``torch.onnx.export`` traces
(``torch.onnx.is_in_onnx_export()``); the torch path keeps its FFTs and tiled attention.
"""

from __future__ import annotations

import math

import torch


def _size(n: int | torch.Tensor) -> torch.Tensor:
    """A size as a 0-d int64 tensor (while tracing, ``x.shape[i]`` already is one)."""
    return torch.as_tensor(n, dtype=torch.int64)


def _phases(rows: torch.Tensor, cols: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2 pi (r c mod n) / n for every pair: the reduction before the float
    keeps the angle exact for large sizes."""
    angle = ((rows[:, None] * cols[None, :]) % n).to(torch.float32) * (2 * math.pi / n.to(torch.float32))
    return torch.cos(angle), torch.sin(angle)


def rfft2_ortho(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.fft.rfftn(x, dim=(-2, -1), norm="ortho")`` of a real [..., h, w] tensor as
    (real, imaginary) parts [..., h, w // 2 + 1], by matrix products with the DFT's cos and sin."""
    h, w = _size(x.shape[-2]), _size(x.shape[-1])
    cos_w, sin_w = _phases(torch.arange(w), torch.arange(w // 2 + 1), w)  # [w, w//2+1]
    cos_h, sin_h = _phases(torch.arange(h), torch.arange(h), h)  # [h, h], symmetric
    a, b = x @ cos_w, -(x @ sin_w)  # along the width: x e^{-i theta}
    scale = torch.rsqrt((h * w).to(torch.float32))
    real = (cos_h @ a + sin_h @ b) * scale  # along the height: (cos - i sin)(a + i b)
    imag = (cos_h @ b - sin_h @ a) * scale
    return real, imag


def irfft2_ortho(real: torch.Tensor, imag: torch.Tensor, h: int | torch.Tensor, w: int | torch.Tensor) -> torch.Tensor:
    """``torch.fft.irfftn(torch.complex(real, imag), s=(h, w), dim=(-2, -1), norm="ortho")``:
    the inverse along the height, then the real inverse along the width, which (like the FFT
    library) reads only the real part of the zero and Nyquist columns."""
    h, w = _size(h), _size(w)
    cos_h, sin_h = _phases(torch.arange(h), torch.arange(h), h)
    yr = cos_h @ real - sin_h @ imag  # (cos + i sin)(real + i imag)
    yi = cos_h @ imag + sin_h @ real
    cols = torch.arange(w // 2 + 1)
    cos_w, sin_w = _phases(cols, torch.arange(w), w)  # [w//2+1, w]
    # each column but the zero and Nyquist ones stands for itself and its mirror image
    weight = (2 - (cols == 0).to(torch.float32) - (2 * cols == w).to(torch.float32))[:, None]
    scale = torch.rsqrt((h * w).to(torch.float32))
    return (yr @ (cos_w * weight) - yi @ (sin_w * weight)) * scale


def _windows(n: torch.Tensor, kernel: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per offset o < kernel: the key index of every query's o-th window position along one
    axis (NATTEN's window: start clamp(i - k//2, 0, n - k), k = min(kernel, n)), and k."""
    k = torch.clamp(n, max=kernel)
    start = torch.minimum(torch.clamp(torch.arange(n) - k // 2, min=0), n - k)
    return [torch.minimum(start + o, n - 1) for o in range(kernel)], k


def window_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, kernel_size: int | tuple[int, int]
) -> torch.Tensor:
    """Neighborhood attention on [B, H, W, heads, D] (``attention.portable_na2d``'s semantics)
    as kh x kw gathers of the key and value maps, one per window position; positions beyond a
    map smaller than the kernel are masked out. Memory stays a few maps whatever the size."""
    b, height, width, heads, dim = query.shape
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    rows, k_rows = _windows(_size(height), kh)
    cols, k_cols = _windows(_size(width), kw)
    q, k, v = (t.permute(0, 3, 1, 2, 4).reshape(b, heads, -1, dim) for t in (query, key, value))
    q = q * torch.rsqrt(_size(dim).to(q.dtype))
    indices, scores = [], []
    for oy, row in enumerate(rows):
        for ox, col in enumerate(cols):
            index = (row[:, None] * width + col[None, :]).reshape(-1)
            score = (q * k.index_select(2, index)).sum(-1)  # [B, heads, H*W]
            inside = (oy < k_rows) & (ox < k_cols)
            scores.append(torch.where(inside, score, torch.full_like(score, -math.inf)))
            indices.append(index)
    weights = torch.softmax(torch.stack(scores, dim=-1), dim=-1)
    out = sum(weights[..., n, None] * v.index_select(2, index) for n, index in enumerate(indices))
    return out.reshape(b, heads, height, width, dim).permute(0, 2, 3, 1, 4)
