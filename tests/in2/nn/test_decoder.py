"""Implicit decoder: geometry, factorised == plain, chunking exactness, fused RGB head."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from in2.nn.decoder import INRB, PyramidDecoder
from in2.nn.query_geometry import axis as _axis
from in2.nn.query_geometry import latent_reads, num_chunks


def test_axis_geometry_matches_pixel_centres():
    ax = _axis(2, 4, torch.device("cpu"))  # u = -0.25, 0.25, 0.75, 1.25
    assert ax.lo.tolist() == [0, 0, 0, 1]
    assert ax.hi.tolist() == [0, 1, 1, 1]
    torch.testing.assert_close(ax.rel_lo, torch.tensor([-0.5, 0.5, 1.5, 0.5]))
    torch.testing.assert_close(ax.rel_hi, torch.tensor([-0.5, -1.5, -0.5, 0.5]))


def _block(c_in=5, c_out=4, hidden=16, layers=3, seed=0) -> INRB:
    torch.manual_seed(seed)
    return INRB(c_in, c_out, hidden, layers).eval()


def _plain_liif(block: INRB, feat: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Direct transcription of the spec (unfold, 4 neighbours, area weights), no shared helpers."""
    b, c, h, w = feat.shape
    unfolded = F.unfold(feat, 3, padding=1).view(b, 9 * c, h, w)
    out_h, out_w = size
    out = torch.zeros(b, block.out.out_features, out_h, out_w, dtype=torch.float64)
    for i in range(out_h):
        uy = (i + 0.5) * h / out_h - 0.5
        rows = [min(max(math.floor(uy) + d, 0), h - 1) for d in (0, 1)]
        for j in range(out_w):
            ux = (j + 0.5) * w / out_w - 0.5
            cols = [min(max(math.floor(ux) + d, 0), w - 1) for d in (0, 1)]
            preds, areas = [], []
            for p in rows:
                for q in cols:
                    ry, rx = 2 * (uy - p), 2 * (ux - q)
                    x = torch.cat(
                        [unfolded[:, :, p, q], torch.tensor([[ry, rx, h / out_h, w / out_w]]).expand(b, 4)], 1
                    )
                    z = F.relu(block.first(x))
                    for layer in block.hidden:
                        z = F.relu(layer(z))
                    preds.append(block.out(z).double())
                    areas.append(abs(ry * rx) + 1e-9)
            total = sum(areas)
            for pred, area in zip(preds, reversed(areas), strict=True):
                out[:, :, i, j] += pred * area / total
    return out.float()


@pytest.mark.parametrize("src,dst", [((3, 4), (7, 9)), ((5, 5), (10, 10)), ((4, 6), (4, 6)), ((6, 3), (4, 5))])
def test_plain_form_matches_spec_transcription(src, dst):
    block = _block()
    feat = torch.randn(2, 5, *src)
    with torch.no_grad():
        ours = block(feat, dst, factorised=False)
        ref = _plain_liif(block, feat, dst)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("src,dst", [((3, 4), (7, 9)), ((9, 7), (17, 13)), ((2, 2), (16, 16)), ((8, 5), (3, 11))])
@pytest.mark.parametrize("chunk", [None, 1, 13, 10_000])
def test_factorised_equals_plain(src, dst, chunk):
    block = _block(c_in=6, c_out=3, hidden=24, layers=4)
    feat = torch.randn(1, 6, *src)
    with torch.no_grad():
        plain = block(feat, dst, factorised=False)
        fast = block(feat, dst, factorised=True, chunk_size=chunk)
    assert fast.shape == (1, 3, *dst)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def test_factorised_gradients_match_plain():
    block = _block()
    feat = torch.randn(1, 5, 4, 3, requires_grad=True)
    block(feat, (9, 7), factorised=False).square().sum().backward()
    plain = [feat.grad.clone(), *(p.grad.clone() for p in block.parameters())]
    feat.grad = None
    block.zero_grad()
    block(feat, (9, 7), factorised=True).square().sum().backward()
    fast = [feat.grad, *(p.grad for p in block.parameters())]
    for a, b in zip(fast, plain, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_head_is_applied_per_chunk_and_equals_head_after():
    decoder = PyramidDecoder([6, 5, 4], out_channels=3, hidden=16, layers=2).eval()
    feat = torch.randn(1, 6, 3, 4)
    sizes = [(5, 7), (11, 13)]
    with torch.no_grad():
        fused = decoder(feat, sizes, chunk_size=17)
        mid = decoder.blocks[0](feat, sizes[0])
        last = decoder.blocks[1](mid, sizes[1])  # full-size features, then the head
        reference = torch.sigmoid(decoder.to_rgb(last))
    assert fused.shape == (1, 3, 11, 13) and fused.is_contiguous()
    torch.testing.assert_close(fused, reference, atol=1e-6, rtol=1e-5)


def test_progress_counts_chunks_across_levels():
    decoder = PyramidDecoder([6, 5, 4], out_channels=3, hidden=8, layers=1).eval()
    sizes = [(5, 7), (11, 13)]
    calls: list[tuple[int, int]] = []
    with torch.no_grad():
        decoder(torch.randn(1, 6, 3, 4), sizes, chunk_size=20, progress=lambda d, t: calls.append((d, t)))
    total = num_chunks(5, 7, 20) + num_chunks(11, 13, 20)
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_progress_exception_interrupts():
    decoder = PyramidDecoder([6, 5, 4], out_channels=3, hidden=8, layers=1).eval()

    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop), torch.no_grad():
        decoder(torch.randn(1, 6, 3, 4), [(5, 7), (11, 13)], chunk_size=10, progress=stop)


def test_chunked_training_gradients_match_unchunked():
    """With gradients, chunks are recomputed in backward; the gradients must not change."""
    block = _block(c_in=4, c_out=3, hidden=16, layers=3).train()
    feat = torch.randn(2, 4, 5, 6, requires_grad=True)
    target = torch.randn(2, 3, 11, 13)
    grads = []
    for chunk in (None, 29):
        feat.grad = None
        block.zero_grad()
        ((block(feat, (11, 13), chunk_size=chunk) - target) ** 2).mean().backward()
        grads.append([feat.grad.clone(), *(p.grad.clone() for p in block.parameters())])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("factorised", [True, False])
@pytest.mark.parametrize("chunk", [None, 5])
def test_region_decode_equals_full_decode_inside_and_zero_outside(factorised, chunk):
    torch.manual_seed(3)
    dec = PyramidDecoder([6, 5, 4, 3], 3, hidden=16, layers=2).eval()
    feat = torch.randn(3, 6, 4, 5)
    sizes = [(7, 9), (13, 17), (26, 33)]
    region = torch.rand(3, 26, 33) > 0.7
    region[1] = False  # an image with nothing to decode
    region[2, 0, :] = True  # a border row
    with torch.no_grad():
        full = dec(feat, sizes, factorised=factorised)
        part = dec(feat, sizes, factorised=factorised, decode_only=region, chunk_size=chunk)
    sel = region[:, None].expand_as(full)
    torch.testing.assert_close(part[sel], full[sel], rtol=0, atol=1e-6)
    assert part[~sel].abs().max().item() == 0.0


def test_region_decode_gradients_match_full_decode_through_the_hole():
    torch.manual_seed(4)
    dec = PyramidDecoder([6, 5, 3], 3, hidden=16, layers=2)
    feat = torch.randn(2, 6, 5, 6, requires_grad=True)
    region = torch.rand(2, 20, 24) > 0.6
    sel = region[:, None].expand(-1, 3, -1, -1).float()
    (dec(feat, [(10, 12), (20, 24)]) * sel).sum().backward()
    g_full = feat.grad.clone()
    feat.grad = None
    (dec(feat, [(10, 12), (20, 24)], decode_only=region, chunk_size=37) * sel).sum().backward()
    torch.testing.assert_close(feat.grad, g_full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("latent,size", [((5, 7), (9, 13)), ((4, 4), (4, 4)), ((6, 3), (23, 5))])
def test_latent_reads_holds_everything_a_region_reads(latent, size):


    block = _block(seed=5)
    torch.manual_seed(6)
    feat = torch.randn(2, 5, *latent)
    region = torch.zeros(2, *size, dtype=torch.bool)
    region[0, 0, 0] = True  # a corner
    region[1, size[0] // 2, size[1] - 1] = True  # the right border
    region[1, -1, : size[1] // 2] = True  # half the bottom row
    reads = latent_reads(region, latent)
    assert not bool(reads.all())
    # anything outside the reads may change without changing the region's output
    scrambled = torch.where(reads[:, None], feat, torch.randn_like(feat) * 100)
    with torch.no_grad():
        a, b = block(feat, size), block(scrambled, size)
    sel = region[:, None].expand_as(a)
    torch.testing.assert_close(b[sel], a[sel], rtol=0, atol=1e-5)
    # a read set no larger than 3x3 around 4 neighbours per query
    assert int(reads.sum()) <= 36 * int(region.sum())
