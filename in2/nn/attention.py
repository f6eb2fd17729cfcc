"""2-D neighborhood attention (NATTEN semantics) with a portable backend.

NATTEN's fused kernels exist only for CUDA builds; its PyPI CPU build falls back to a Flex
path that materialises the full score matrix (seconds and gigabytes on a 72x128 map). The
portable path here tiles queries into T x T blocks, attends each block to the
(T+k-1)^2 key halo that contains all of its windows, and masks keys outside each query's
window, so memory is bounded and it runs on any device. Semantics (both backends): per
axis the window of query i starts at clamp(i - k//2, 0, n - k), so windows shift inward at
borders and every query sees exactly k_h * k_w keys; dilation 1, no positional bias.

Layout everywhere is NATTEN's heads-last one: [batch, height, width, heads, head_dim].
"""

from __future__ import annotations

import functools
import math
import os
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F

BACKENDS = ("auto", "portable", "natten")
_ENV_VAR = "IN2_ATTENTION_BACKEND"
_backend: str | None = None  # None = read the environment variable on first use

# Query tile side of the portable path and the most score elements one SDPA call may hold.
_TILE = 8
_MAX_SCORES = 1 << 24


def _validate(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose one of {BACKENDS}")
    return name


def get_attention_backend() -> str:
    """The selected backend name ("auto" unless changed or set by IN2_ATTENTION_BACKEND)."""
    global _backend
    if _backend is None:
        env = os.environ.get(_ENV_VAR, "auto").strip().lower() or "auto"
        if env not in BACKENDS:
            raise ValueError(f"{_ENV_VAR}={env!r} is not a valid attention backend; use one of {BACKENDS}")
        _backend = env
    return _backend


def set_attention_backend(name: str) -> str:
    """Select "auto" | "portable" | "natten" for every model in this process; returns the previous one."""
    global _backend
    previous = get_attention_backend()
    _backend = _validate(name)
    return previous


@contextmanager
def attention_backend(name: str) -> Iterator[None]:
    """Temporarily select a backend (restored on exit, also on error)."""
    previous = set_attention_backend(name)
    try:
        yield
    finally:
        set_attention_backend(previous)


@functools.lru_cache(maxsize=None)
def natten_available() -> bool:
    """True when the natten package imports (any build, including the CPU Flex-only one)."""
    try:
        import natten  # noqa: F401
    except Exception:
        return False
    return True


@functools.lru_cache(maxsize=None)
def natten_fused_available() -> bool:
    """True when natten ships its compiled CUDA library (fused kernels), not just the Flex fallback."""
    if not natten_available():
        return False
    try:
        from natten._libnatten import HAS_LIBNATTEN
    except Exception:
        return False
    return bool(HAS_LIBNATTEN)


def _use_natten(query: torch.Tensor) -> bool:
    backend = get_attention_backend()
    if backend == "portable":
        return False
    if backend == "natten":
        if not natten_available():
            raise RuntimeError(
                "attention backend 'natten' was selected but natten does not import; "
                "install it (pip install --no-build-isolation natten) or use set_attention_backend('portable')"
            )
        return True
    return query.is_cuda and natten_fused_available()


def effective_kernel(kernel_size: int | tuple[int, int], height: int, width: int) -> tuple[int, int]:
    """Per-axis kernel clamped to the map (k_eff = min(k, n)) so small maps stay legal."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return min(kh, height), min(kw, width)


def neighborhood_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, kernel_size: int | tuple[int, int]
) -> torch.Tensor:
    """Neighborhood attention on [B, H, W, heads, D] tensors with the selected backend."""
    if query.dim() != 5:
        raise ValueError(f"expected [batch, height, width, heads, head_dim], got shape {tuple(query.shape)}")
    kernel = effective_kernel(kernel_size, query.shape[1], query.shape[2])
    # NATTEN rejects kernels below 2 (a 1-pixel axis); the portable path covers that case exactly.
    if _use_natten(query) and min(kernel) >= 2:
        import natten

        return natten.na2d(query.contiguous(), key.contiguous(), value.contiguous(), kernel_size=kernel)
    return portable_na2d(query, key, value, kernel)


def _window_start(index: torch.Tensor, n: int, k: int) -> torch.Tensor:
    return (index - k // 2).clamp(0, n - k)


def _axis_plan(n: int, k: int, tile: int, device: torch.device):
    """Tiles along one axis: query indices, halo key indices, window mask, and where each output comes from.

    All tiles have the same size (the last one is shifted back to end at n and may overlap its
    neighbour) so every tile can go through one batched attention call.
    """
    tq = min(tile, n)
    lk = min(tq + k - 1, n)
    n_tiles = math.ceil(n / tq)
    q_starts = torch.clamp(torch.arange(n_tiles, device=device) * tq, max=n - tq)
    k_starts = _window_start(q_starts, n, k).clamp(max=n - lk)
    q_idx = q_starts[:, None] + torch.arange(tq, device=device)  # [T, tq]
    k_idx = k_starts[:, None] + torch.arange(lk, device=device)  # [T, lk]
    start = _window_start(q_idx, n, k)[:, :, None]
    mask = (k_idx[:, None, :] >= start) & (k_idx[:, None, :] < start + k)  # [T, tq, lk]
    positions = torch.arange(n, device=device)
    out_tile = torch.clamp(positions // tq, max=n_tiles - 1)
    out_offset = positions - q_starts[out_tile]
    return q_idx, k_idx, mask, out_tile, out_offset


def _tiles(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """[B, heads, H, W, D] -> [B * Tr * Tc, heads, r * c, D] blocks at the given row/col indices."""
    b, h, _, _, d = x.shape
    t = x[:, :, rows][:, :, :, :, cols]  # [B, h, Tr, r, Tc, c, D]
    tr, r, tc, c = rows.shape[0], rows.shape[1], cols.shape[0], cols.shape[1]
    return t.permute(0, 2, 4, 1, 3, 5, 6).reshape(b * tr * tc, h, r * c, d)


def portable_na2d(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    kernel_size: int | tuple[int, int],
    tile: int = _TILE,
) -> torch.Tensor:
    """Tiled neighborhood attention in plain PyTorch; same layout and semantics as natten.na2d."""
    b, height, width, heads, dim = query.shape
    kh, kw = effective_kernel(kernel_size, height, width)
    dev = query.device
    qr, kr, mr, tile_r, off_r = _axis_plan(height, kh, tile, dev)
    qc, kc, mc, tile_c, off_c = _axis_plan(width, kw, tile, dev)
    n_tc = qc.shape[0]
    q, k, v = (t.permute(0, 3, 1, 2, 4) for t in (query, key, value))  # [B, h, H, W, D]

    # Process groups of tile rows so the score tensor stays below _MAX_SCORES elements.
    per_row = b * heads * n_tc * qr.shape[1] * qc.shape[1] * kr.shape[1] * kc.shape[1]
    rows_per_call = max(1, _MAX_SCORES // max(per_row, 1))
    outs = []
    for r0 in range(0, qr.shape[0], rows_per_call):
        sl = slice(r0, r0 + rows_per_call)
        n_tr = qr[sl].shape[0]
        qt = _tiles(q, qr[sl], qc)
        kt = _tiles(k, kr[sl], kc)
        vt = _tiles(v, kr[sl], kc)
        mask = mr[sl][:, None, :, None, :, None] & mc[None, :, None, :, None, :]  # [Tr, Tc, r, c, lr, lc]
        mask = mask.reshape(n_tr * n_tc, 1, qt.shape[2], kt.shape[2])
        if b > 1:
            mask = mask.repeat(b, 1, 1, 1)
        o = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask)
        outs.append(o.reshape(b, n_tr, n_tc, heads, qr.shape[1], qc.shape[1], dim))
    tiles = torch.cat(outs, dim=1)  # [B, Tr, Tc, h, r, c, D]
    out = tiles[:, tile_r[:, None], tile_c[None, :], :, off_r[:, None], off_c[None, :]]
    # Advanced indices separated by a slice move to the front: [H, W, B, h, D].
    return out.permute(2, 0, 1, 3, 4)
