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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .traceable import window_attention

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
    """Select the neighbourhood-attention backend for every model in this process.

    Args:
        name: ``auto`` (NATTEN for CUDA tensors when its fused library is there, else portable),
            ``portable`` or ``natten``.

    Returns:
        The backend selected before, so a caller can put it back.

    Examples:
        >>> previous = set_attention_backend("portable")
        >>> _ = set_attention_backend(previous)
    """
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


@functools.cache
def natten_available() -> bool:
    """True when the natten package imports (any build, including the CPU Flex-only one)."""
    try:
        import natten  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken natten build raises more than ImportError
        return False
    return True


@functools.cache
def natten_fused_available() -> bool:
    """True when natten ships its compiled CUDA library (fused kernels), not just the Flex fallback."""
    if not natten_available():
        return False
    try:
        from natten._libnatten import HAS_LIBNATTEN
    except Exception:  # noqa: BLE001 - a broken natten build raises more than ImportError
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
    if torch.onnx.is_in_onnx_export():  # no size-specific plan: the graph serves every size
        return window_attention(query, key, value, kernel_size)
    kernel = effective_kernel(kernel_size, query.shape[1], query.shape[2])
    # NATTEN rejects kernels below 2 (a 1-pixel axis); the portable path covers that case exactly.
    if _use_natten(query) and min(kernel) >= 2:
        import natten

        return natten.na2d(query.contiguous(), key.contiguous(), value.contiguous(), kernel_size=kernel)
    return portable_na2d(query, key, value, kernel)


def _window_start(index: torch.Tensor, n: int, k: int) -> torch.Tensor:
    return (index - k // 2).clamp(0, n - k)


def _axis_plan(n: int, k: int, tile: int):
    """Tiles along one axis: query indices, halo key indices, window mask, and where each output comes from.

    All tiles have the same size (the last one is shifted back to end at n and may overlap its
    neighbour) so every tile can go through one batched attention call.
    """
    tq = min(tile, n)
    lk = min(tq + k - 1, n)
    n_tiles = math.ceil(n / tq)
    q_starts = torch.clamp(torch.arange(n_tiles) * tq, max=n - tq)
    k_starts = _window_start(q_starts, n, k).clamp(max=n - lk)
    q_idx = q_starts[:, None] + torch.arange(tq)  # [T, tq]
    k_idx = k_starts[:, None] + torch.arange(lk)  # [T, lk]
    start = _window_start(q_idx, n, k)[:, :, None]
    mask = (k_idx[:, None, :] >= start) & (k_idx[:, None, :] < start + k)  # [T, tq, lk]
    positions = torch.arange(n)
    out_tile = torch.clamp(positions // tq, max=n_tiles - 1)
    out_offset = positions - q_starts[out_tile]
    return q_idx, k_idx, mask, out_tile, out_offset


@dataclass(frozen=True)
class _Plan:
    """Which pixels each tile reads, in an order where tiles sharing a window mask are adjacent.

    Inside the map every tile has the same window mask; only tiles at a border differ. So the
    tiles are grouped by mask (at most a few groups per axis) and each group is attended with one
    [1, 1, queries, keys] mask that broadcasts over its tiles: no per-tile mask is ever built.
    """

    queries: torch.Tensor  # [T * Q] flat pixel index of every tile's queries, tile after tile
    keys: torch.Tensor  # [T * L] flat pixel index of every tile's key halo
    groups: tuple[tuple[int, int, torch.Tensor], ...]  # (first tile, end tile, mask [1, 1, Q, L])
    output: torch.Tensor  # [H * W] where each pixel's result is among the tiles' queries
    per_tile: tuple[int, int]  # Q, L


@functools.lru_cache(maxsize=16)
def _plan(height: int, width: int, kh: int, kw: int, tile: int, device: torch.device) -> _Plan:
    # normal tensors even when first asked for under inference_mode: training may reuse the plan
    with torch.inference_mode(False):
        return _build_plan(height, width, kh, kw, tile, device)


def _build_plan(height: int, width: int, kh: int, kw: int, tile: int, device: torch.device) -> _Plan:
    qr, kr, mr, tile_r, off_r = _axis_plan(height, kh, tile)
    qc, kc, mc, tile_c, off_c = _axis_plan(width, kw, tile)
    _, class_r = torch.unique(mr.flatten(1), dim=0, return_inverse=True)
    _, class_c = torch.unique(mc.flatten(1), dim=0, return_inverse=True)
    tiles = [(int(class_r[r]), int(class_c[c]), r, c) for r in range(qr.shape[0]) for c in range(qc.shape[0])]
    tiles.sort()
    rows = torch.tensor([t[2] for t in tiles])
    cols = torch.tensor([t[3] for t in tiles])
    queries = (qr[rows][:, :, None] * width + qc[cols][:, None, :]).flatten()
    keys = (kr[rows][:, :, None] * width + kc[cols][:, None, :]).flatten()
    groups, first = [], 0
    for i in range(1, len(tiles) + 1):
        if i == len(tiles) or tiles[i][:2] != tiles[first][:2]:
            r, c = tiles[first][2], tiles[first][3]
            mask = (mr[r][:, None, :, None] & mc[c][None, :, None, :]).reshape(1, 1, qr.shape[1] * qc.shape[1], -1)
            groups.append((first, i, mask.to(device)))
            first = i
    order = torch.empty(len(tiles), dtype=torch.long)
    order[rows * qc.shape[0] + cols] = torch.arange(len(tiles))
    slot = order[tile_r[:, None] * qc.shape[0] + tile_c[None, :]]  # [H, W] position of each pixel's tile
    output = (slot * qr.shape[1] + off_r[:, None]) * qc.shape[1] + off_c[None, :]
    per_tile = (qr.shape[1] * qc.shape[1], kr.shape[1] * kc.shape[1])
    return _Plan(queries.to(device), keys.to(device), tuple(groups), output.flatten().to(device), per_tile)


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
    plan = _plan(height, width, kh, kw, tile, query.device)
    n_q, n_k = plan.per_tile
    # heads-first copies, so each gather below is one contiguous block per head: [B, heads, H*W, D]
    q, k, v = (t.permute(0, 3, 1, 2, 4).reshape(b, heads, height * width, dim) for t in (query, key, value))
    tiles_per_call = max(1, _MAX_SCORES // (b * heads * n_q * n_k))
    largest = min(tiles_per_call, max(end - first for first, end, _ in plan.groups))
    # Without autograd the gathers write into buffers that every call below reuses: on the CPU
    # fresh pages cost more than the copy itself (23 ms -> 15 ms per 64x64 map).
    reuse = not (torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value)))
    buffers = [q.new_empty(b * heads * largest * per * dim) if reuse else None for per in (n_q, n_k, n_k)]
    outs = []
    for first, end, mask in plan.groups:
        for t0 in range(first, end, tiles_per_call):
            t1 = min(end, t0 + tiles_per_call)
            n = t1 - t0
            # tiles ride in SDPA's head axis and (batch, heads) in its batch axis
            qt, kt, vt = (
                _gather(x, index[t0 * per : t1 * per], buffer).view(b * heads, n, per, dim)
                for x, index, per, buffer in zip(
                    (q, k, v), (plan.queries, plan.keys, plan.keys), (n_q, n_k, n_k), buffers, strict=True
                )
            )
            o = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask)  # [B * heads, n, Q, D]
            outs.append(o.view(b, heads, n * n_q, dim))
    tiles = torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]
    return tiles.index_select(2, plan.output).view(b, heads, height, width, dim).permute(0, 2, 3, 1, 4)


def _gather(x: torch.Tensor, index: torch.Tensor, buffer: torch.Tensor | None) -> torch.Tensor:
    """``x.index_select(2, index)`` for x [B, heads, N, D], into the front of ``buffer`` when given."""
    if buffer is None:
        return x.index_select(2, index)
    b, heads, _, dim = x.shape
    out = buffer[: b * heads * index.numel() * dim].view(b, heads, index.numel(), dim)
    return torch.index_select(x, 2, index, out=out)
