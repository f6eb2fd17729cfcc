"""Implicit neural representation block (INRB): LIIF-style upsampling to any target size.

Every output pixel is a query: an MLP reads the 3x3-unfolded latent feature of each of its
4 nearest latent pixels plus the relative offset to them and the cell size, and the 4
answers are blended with bilinear (opposite-area) weights. Queries are independent, which
makes decoding in chunks exact and keeps memory bounded at any output size.

Two evaluations of the same function:
- plain: gather the 9*C unfolded features per neighbour and run the first Linear on them;
- factorised: the feature part of the first Linear is a 3x3 conv on the latent map, computed
  once per latent pixel and gathered, and the cell part is a constant folded into the bias.
  ~15x fewer first-layer MACs; used for inference and training by default.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..runtime import reduced_matmul_dtype
from . import fused
from .query_geometry import Axis, axis, latent_reads, neighbours, num_chunks

# Queries whose MLP runs at once inside a chunk at inference on the CPU: their activations
# (4 neighbours x 2048 x 256 channels, 8 MiB in fp32) stay in the cache from layer to layer.
_BLOCK = 2048


class _Workspace:
    """Activation buffers an INRB reuses from block to block at inference."""

    def __init__(self) -> None:
        self.buffers: list[torch.Tensor] = []

    def pair(self, size: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Two flat buffers of at least `size` elements (grown when a chunk needs more)."""
        if not self.buffers or self.buffers[0].numel() < size or self.buffers[0].dtype != dtype:
            self.buffers = [torch.empty(size, dtype=dtype, device=device) for _ in range(2)]
        return self.buffers[0][:size], self.buffers[1][:size]


def _workspace() -> _Workspace | None:
    """A workspace for inference; None with autograd (the buffers would be overwritten)."""
    return None if torch.is_grad_enabled() else _Workspace()


class INRB(nn.Module):
    """[B, C_in, h, w] -> [B, C_out, Ht, Wt] through a per-query MLP (see module docstring)."""

    def __init__(self, c_in: int, c_out: int, hidden: int = 256, layers: int = 4) -> None:
        super().__init__()
        self.c_in = c_in
        self.first = nn.Linear(9 * c_in + 4, hidden)  # [unfolded feature, rel_y, rel_x, cell_y, cell_x]
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.out = nn.Linear(hidden, c_out)

    # -- the first layer, two ways -------------------------------------------------------
    def _feature_weight(self) -> torch.Tensor:
        return self.first.weight[:, : 9 * self.c_in]

    def _factorised_table(self, feat: torch.Tensor, cell: torch.Tensor, row0: int, row1: int) -> torch.Tensor:
        """W_f * unfold(F) + b + W_cell * c for latent rows row0..row1 (inclusive), as [B, rows*w, hidden].

        Only the rows a chunk needs are computed, so the hidden-wide table never exists at the
        full latent size when decoding in chunks (it is as large as a 64-channel full-size map).
        """
        h = feat.shape[-2]
        w_f = self._feature_weight().reshape(-1, self.c_in, 3, 3)
        bias = self.first.bias + self.first.weight[:, 9 * self.c_in + 2 :] @ cell
        band = feat[:, :, max(row0 - 1, 0) : min(row1 + 1, h - 1) + 1]
        band = F.pad(band, (1, 1, int(row0 == 0), int(row1 == h - 1)))  # zero padding at true borders only
        # channels-last in, channels-last out: the [pixels, hidden] table is then a view, not a copy
        table = fused.conv(band.contiguous(memory_format=torch.channels_last), w_f, bias)
        return table.permute(0, 2, 3, 1).reshape(table.shape[0], -1, table.shape[1])

    def _factorised_table_at(self, feat: torch.Tensor, cell: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """The same table as ``_factorised_table`` at the flat latent indices ``pixels`` only, as
        [B, len(pixels), hidden]: for a scattered hole far fewer pixels than its rows hold."""
        b, c, h, w = feat.shape
        y, x = pixels // w, pixels % w
        offsets = torch.arange(-1, 2, device=pixels.device)
        ny = (y[:, None, None] + offsets[None, :, None]).expand(-1, 3, 3)  # [m, 3, 3]: (dy, dx)
        nx = (x[:, None, None] + offsets[None, None, :]).expand(-1, 3, 3)
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        index = (ny.clamp(0, h - 1) * w + nx.clamp(0, w - 1)).reshape(-1)
        flat = feat.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view when feat is channels-last
        patches = flat.index_select(1, index).view(b, -1, 9, c)
        patches = patches.mul_(inside.reshape(1, -1, 9, 1).to(patches.dtype))  # zero padding
        # the Linear's feature weight is channel-major (c, dy, dx): reorder it to (dy, dx, c)
        w_f = self._feature_weight().reshape(-1, c, 9).transpose(1, 2).reshape(-1, 9 * c)
        bias = self.first.bias + self.first.weight[:, 9 * self.c_in + 2 :] @ cell
        if torch.is_grad_enabled():  # autograd (and an ONNX export): one batched product
            return F.linear(patches.reshape(b, -1, 9 * c), w_f, bias)
        return torch.stack([fused.linear(patches[i].reshape(-1, 9 * c), w_f, bias) for i in range(b)])

    def _first_factorised(self, table: torch.Tensor, src: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        """src [4, n] latent indices, rel [4, n, 2] -> first-layer pre-activation [B, 4, n, hidden]."""
        w_rel = self.first.weight[:, 9 * self.c_in : 9 * self.c_in + 2]
        gathered = table.index_select(1, src.reshape(-1)).reshape(table.shape[0], *src.shape, -1)
        return gathered + rel @ w_rel.t()

    def _first_plain(
        self,
        padded: torch.Tensor,
        width: int,
        src_y: torch.Tensor,
        src_x: torch.Tensor,
        rel: torch.Tensor,
        cell: torch.Tensor,
    ) -> torch.Tensor:
        """Gather the 3x3 patch around each neighbour from the zero-padded map and apply the full Linear."""
        b, c = padded.shape[0], self.c_in
        dy, dx = torch.meshgrid(
            torch.arange(3, device=src_y.device), torch.arange(3, device=src_y.device), indexing="ij"
        )
        idx = (src_y[..., None] + dy.reshape(-1)) * (width + 2) + (src_x[..., None] + dx.reshape(-1))  # [4, n, 9]
        flat = padded.flatten(2)  # [B, C, (h+2)*(w+2)]
        patches = flat[:, :, idx.reshape(-1)].reshape(b, c, *idx.shape)  # [B, C, 4, n, 9]
        unfolded = patches.permute(0, 2, 3, 1, 4).reshape(b, *idx.shape[:2], 9 * c)  # channel-major like F.unfold
        extra = torch.cat([rel, cell.expand(*rel.shape[:2], 2)], dim=-1).expand(b, -1, -1, -1)
        return self.first(torch.cat([unfolded, extra], dim=-1))

    def _mlp(self, z: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """First-layer pre-activation [B, 4, n, hidden] -> blended output [B, n, C_out]."""
        z = z.relu_()  # in place: every pre-activation is a fresh tensor no one else needs
        for layer in self.hidden:
            z = layer(z).relu_()
        return (self.out(z) * weight[None, :, :, None]).sum(1)

    def _chunk_factorised(
        self,
        table: torch.Tensor,
        src: torch.Tensor,
        rel: torch.Tensor,
        weight: torch.Tensor,
        work: _Workspace | None = None,
    ) -> torch.Tensor:
        if work is None or not isinstance(self.out, nn.Linear):  # autograd, or swapped layers (int8)
            return self._mlp(self._first_factorised(table, src, rel), weight)
        return self._chunk_inference(table, src, rel, weight, work)

    def _chunk_inference(
        self, table: torch.Tensor, src: torch.Tensor, rel: torch.Tensor, weight: torch.Tensor, work: _Workspace
    ) -> torch.Tensor:
        """`_chunk_factorised` without autograd, a block of queries at a time: each block's
        activations ([4 x block, hidden], a few MB) stay in the CPU's cache through all the
        layers, and each layer is one fused linear + bias + ReLU (`fused.linear`)."""
        b, n, hidden = table.shape[0], src.shape[1], table.shape[-1]
        out_dtype = table.dtype  # under autocast the table is already in the reduced precision
        low = reduced_matmul_dtype()  # runtime.matmul_precision: the MLP in bf16 on a CPU with native bf16
        if low is not None and table.dtype == torch.float32:
            table = table.to(low)
        dtype = table.dtype
        w_rel = self.first.weight[:, 9 * self.c_in : 9 * self.c_in + 2].to(dtype).t()
        rel, weight = rel.to(dtype), weight.to(dtype)
        blended = table.new_empty(b, n, self.out.out_features, dtype=out_dtype)
        block = _BLOCK if table.device.type == "cpu" else n  # a GPU wants few, large kernels
        for s in range(0, n, block):
            e = min(n, s + block)
            rows = 4 * (e - s)
            x = work.pair(b * rows * hidden, dtype, table.device)[0].view(b, rows, hidden)
            torch.index_select(table, 1, src[:, s:e].reshape(-1), out=x)
            rel_block = rel[:, s:e].reshape(rows, 2)
            for bi in range(b):
                x[bi].addmm_(rel_block, w_rel)
            z = x.view(b * rows, hidden).relu_()
            for layer in self.hidden:
                z = fused.linear(z, layer.weight, layer.bias, relu=True)
            per = fused.linear(z, self.out.weight, self.out.bias).view(b, 4, e - s, -1)
            w = weight[:, s:e, None]  # [4, block, 1]
            out = blended[:, s:e]
            torch.mul(per[:, 0], w[0], out=out)
            for k in range(1, 4):
                out.addcmul_(per[:, k], w[k])
        return blended

    def _chunk_plain(
        self, padded: torch.Tensor, width: int, ys: torch.Tensor, xs: torch.Tensor, rel: torch.Tensor,
        cell: torch.Tensor, weight: torch.Tensor,
    ) -> torch.Tensor:
        return self._mlp(self._first_plain(padded, width, ys, xs, rel, cell), weight)

    # -- forward --------------------------------------------------------------------------
    def forward(
        self,
        feat: torch.Tensor,
        size: tuple[int, int],
        decode_only: torch.Tensor | None = None,
        *,
        chunk_size: int | None = None,
        factorised: bool = True,
        head: Callable[[torch.Tensor], torch.Tensor] | None = None,
        on_chunk: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """Decode `feat` at `size`: every output pixel, or only those where `decode_only` [B, Ht, Wt] is True.

        The one decoding loop: queries go through the MLP `chunk_size` at a time (all images of
        the batch together; one image at a time with `decode_only`, as each image has its own
        hole). Queries are independent, so those pixels get exactly the values the full decode
        gives them (the rest stay 0) at a cost that follows their number. `head` maps each
        chunk's [B, n, C_out] features (e.g. to RGB) before it is stored, so the full-size C_out
        tensor never exists; `on_chunk` runs after every chunk. Differentiable.
        """
        b, _, h, w = feat.shape
        out_h, out_w = size
        total = out_h * out_w
        dev, dtype = feat.device, feat.dtype
        ay, ax = axis(h, out_h, dev), axis(w, out_w, dev)
        cell = torch.tensor([h / out_h, w / out_w], device=dev, dtype=dtype)
        work = _workspace()
        result: torch.Tensor | None = None
        if decode_only is None:
            jobs: list[tuple[int | None, torch.Tensor | None, int]] = [(None, None, total)]
        else:
            flat = decode_only.reshape(b, -1)
            jobs = [(bi, q, q.numel()) for bi, q in ((bi, flat[bi].nonzero().squeeze(1)) for bi in range(b))]
            c_out = self.out.out_features
            if head is not None:
                c_out = head(feat.new_zeros(1, 0, c_out)).shape[-1]
            result = feat.new_zeros(b, total, c_out)
        for bi, queries, n in jobs:  # queries ascending: output rows are non-decreasing in them
            images = feat if bi is None else feat[bi : bi + 1]
            step = max(1, n if chunk_size is None else int(chunk_size))
            # With gradients and chunks, each chunk's MLP is recomputed in backward, so training
            # memory is bounded by the chunk as well (activation checkpointing; same gradients).
            recompute = chunk_size is not None and torch.is_grad_enabled() and step < n
            tables = _Tables(self, images, cell, ay, out_w, reuse_band=queries is None) if factorised else None
            padded = None if factorised else F.pad(images, (1, 1, 1, 1))
            for start in range(0, n, step):
                end = min(start + step, n)
                q = torch.arange(start, end, device=dev) if queries is None else queries[start:end]
                ys, xs, rel, weight = neighbours(ay, ax, q // out_w, q % out_w, dtype)
                if tables is not None:
                    table, src = tables.lookup(ys, xs, start, end - 1)
                    fn, args = self._chunk_factorised, (table, src, rel, weight, work)
                else:
                    fn, args = self._chunk_plain, (padded, w, ys, xs, rel, cell, weight)
                chunk = checkpoint(fn, *args, use_reentrant=False) if recompute else fn(*args)  # [B, n, C_out]
                table = args = None  # a band no longer needed is freed before the next one exists
                if head is not None:
                    chunk = head(chunk)
                result = _store(result, chunk, bi, q, start, total)
                if on_chunk is not None:
                    on_chunk()
        assert result is not None
        return result.reshape(b, out_h, out_w, -1).permute(0, 3, 1, 2)


class _Tables:
    """Where a chunk's factorised first-layer table comes from.

    Decoding every pixel, chunks walk down the output rows, so each reads one contiguous band
    of latent rows: the band is kept while the next chunks read inside it (``reuse_band``).
    Decoding selected pixels, each chunk gets its own band or, for a scattered hole, a table at its
    latent pixels only, which are far fewer than its rows hold.
    """

    def __init__(
        self, block: INRB, feat: torch.Tensor, cell: torch.Tensor, ay: Axis, out_w: int, reuse_band: bool
    ) -> None:
        self.block, self.feat, self.cell, self.out_w, self.reuse_band = block, feat, cell, out_w, reuse_band
        self.width = feat.shape[-1]
        self.rows = (-1, -1)  # latent rows held in `table`
        self.table: torch.Tensor | None = None
        if reuse_band:
            self.lo, self.hi = ay.lo.tolist(), ay.hi.tolist()  # host copies: no device sync per chunk

    def lookup(self, ys: torch.Tensor, xs: torch.Tensor, first: int, last: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The table and each neighbour's index into it, for a chunk of queries ``first``..``last``
        (their positions in the full decode's order: used with ``reuse_band`` only)."""
        w = self.width
        if self.reuse_band:
            row0, row1 = self.lo[first // self.out_w], self.hi[last // self.out_w]
            if not (self.rows[0] <= row0 and row1 <= self.rows[1]):
                self.table = None  # free the previous band before the next one exists
                self.table = self.block._factorised_table(self.feat, self.cell, row0, row1)
                self.rows = (row0, row1)
            return self.table, (ys - self.rows[0]) * w + xs
        row0, row1 = int(ys.min()), int(ys.max())
        pixels, src = torch.unique(ys * w + xs, return_inverse=True)
        if 2 * pixels.numel() < (row1 - row0 + 1) * w:  # a scattered hole: its pixels only
            return self.block._factorised_table_at(self.feat, self.cell, pixels), src
        return self.block._factorised_table(self.feat, self.cell, row0, row1), (ys - row0) * w + xs


def _store(
    result: torch.Tensor | None, chunk: torch.Tensor, bi: int | None, q: torch.Tensor, start: int, total: int
) -> torch.Tensor:
    """Put a chunk's [B, n, C] answers into the [B, total, C] result: at rows ``start`` on of every
    image (``bi`` None: the full decode), or at the query indices ``q`` of image ``bi``."""
    if bi is None:
        if chunk.shape[1] == total:
            return chunk  # a single chunk is the whole output: no copy
        if result is None:
            result = chunk.new_empty(chunk.shape[0], total, chunk.shape[-1])
        result[:, start : start + chunk.shape[1]] = chunk
        return result
    assert result is not None
    if torch.is_grad_enabled():
        return result.index_put((torch.full_like(q, bi), q), chunk[0].to(result.dtype))
    result[bi].index_copy_(0, q, chunk[0].to(result.dtype))
    return result


class PyramidDecoder(nn.Module):
    """INRBs from the body's 1/8 map up through 1/4 and 1/2 to full size, then to_rgb + sigmoid."""

    def __init__(self, widths: list[int], out_channels: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(INRB(widths[i], widths[i + 1], hidden, layers) for i in range(len(widths) - 1))
        self.to_rgb = nn.Conv2d(widths[-1], out_channels, 1)

    def _rgb(self, chunk: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(F.linear(chunk, self.to_rgb.weight.flatten(1), self.to_rgb.bias))

    def forward(
        self,
        feat: torch.Tensor,
        sizes: list[tuple[int, int]],
        *,
        chunk_size: int | None = None,
        factorised: bool = True,
        progress: Callable[[int, int], None] | None = None,
        decode_only: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`sizes` = target size per block, last = output size. Returns [B, out_channels, H, W].

        `decode_only` [B, H, W] bool: decode only these output pixels (0 elsewhere); every earlier
        level then decodes only the latent pixels its successor reads (`latent_reads`).
        """
        wanted: list[torch.Tensor | None] = [None] * len(sizes)  # per level: the pixels to decode
        if decode_only is not None:
            wanted[-1] = decode_only
            for k in range(len(sizes) - 1, 0, -1):
                wanted[k - 1] = latent_reads(wanted[k], sizes[k - 1])  # type: ignore[arg-type]
            # a level needed everywhere takes the plain path (no scatter into a buffer)
            wanted = [None if r is None or bool(r.all()) else r for r in wanted]
        total = 0
        for (hh, ww), level in zip(sizes, wanted, strict=True):
            if level is None:
                total += num_chunks(hh, ww, chunk_size)
            else:
                total += sum(num_chunks(1, int(n), chunk_size) if n else 0 for n in level.flatten(1).sum(1).tolist())
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        last = len(self.blocks) - 1
        for index, (block, size, level) in enumerate(zip(self.blocks, sizes, wanted, strict=True)):
            head = self._rgb if index == last else None
            feat = block(feat, size, level, chunk_size=chunk_size, factorised=factorised, head=head, on_chunk=tick)
        return feat.contiguous()
