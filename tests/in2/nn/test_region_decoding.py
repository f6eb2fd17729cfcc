"""Hole-aware decoding: the pixels compositing reads are decoded exactly as a full decode
gives them, and the composited output of the pipeline does not change."""

from __future__ import annotations

import pytest
import torch

from in2 import IN2, IN2Config, InpaintPipeline
from in2.compositing import prediction_reads


@pytest.fixture(scope="module")
def tiny() -> IN2:
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny(train_resolution=48)).eval()
    with torch.no_grad():  # livelier than the initial weights, so wrong reads show
        for p in model.decoder.parameters():
            p.mul_(3)
    return model


def _holes(b: int, h: int, w: int, kind: str) -> torch.Tensor:
    mask = torch.zeros(b, 1, h, w)
    if kind == "full":
        return mask + 1
    if kind == "border":  # touching all four borders and a corner
        mask[0, :, 0, :] = 1
        mask[0, :, :, -3:] = 1
        mask[-1, :, -2:, : w // 3] = 1
        mask[-1, :, : h // 4, :2] = 1
    else:  # several separate holes, different per image
        g = torch.Generator().manual_seed(h * w)
        for i in range(b):
            for _ in range(3):
                y, x = int(torch.randint(0, h - 3, (1,), generator=g)), int(torch.randint(0, w - 3, (1,), generator=g))
                mask[i, :, y : y + 3, x : x + 4] = 1
    return mask


@pytest.mark.parametrize("size", [(37, 53), (61, 29), (13, 11)])
@pytest.mark.parametrize("kind", ["several", "border", "full"])
@pytest.mark.parametrize("chunk", [None, 64])
def test_region_equals_full_decode(tiny, size, kind, chunk):
    h, w = size
    torch.manual_seed(1)
    image = torch.rand(2, 3, h, w)
    mask = _holes(2, h, w, kind)
    with torch.no_grad():
        full = tiny(image, mask)
        part = tiny(image, mask, decode_only=mask, chunk_size=chunk)
    sel = (mask > 0.5).expand_as(full)
    assert full[sel].std() > 1e-3  # the values compared do differ from pixel to pixel
    torch.testing.assert_close(part[sel], full[sel], rtol=0, atol=1e-5)
    assert part[~sel].abs().max().item() == 0 if kind != "full" else True


def test_scattered_holes_compute_the_table_at_their_pixels_only(tiny, monkeypatch):
    """Spots spread over every row: the first layer's table is computed at the latent pixels
    they read, not over whole rows, and gives the same values, with gradients too."""
    from in2.nn.decoder import INRB

    calls = []
    at = INRB._factorised_table_at
    monkeypatch.setattr(INRB, "_factorised_table_at", lambda self, *a: calls.append(1) or at(self, *a))
    torch.manual_seed(2)
    image, mask = torch.rand(1, 3, 96, 80), torch.zeros(1, 1, 96, 80)
    mask[..., 3::19, 5::23] = 1  # single pixels, far apart
    with torch.no_grad():
        full = tiny(image, mask)
        part = tiny(image, mask, decode_only=mask)
    assert calls, "the per-pixel table was not used"
    sel = (mask > 0.5).expand_as(full)
    torch.testing.assert_close(part[sel], full[sel], rtol=0, atol=1e-5)
    image.requires_grad_(True)
    tiny(image, mask, decode_only=mask, chunk_size=7)[sel].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_region_decodes_fewer_queries(tiny):
    image, mask = torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    mask[..., 10:14, 20:26] = 1
    totals = {}
    for name, wanted in (("full", None), ("hole", mask)):
        seen = []
        with torch.no_grad():
            tiny(image, mask, decode_only=wanted, chunk_size=1, progress=lambda done, total, s=seen: s.append(total))
        totals[name] = seen[-1]
    # 1 query per chunk: totals count the queries of all three levels
    assert totals["full"] == 64 * 64 + 32 * 32 + 16 * 16
    assert totals["hole"] < totals["full"] / 10


class _FullDecode:
    """The pipeline's model, with every pixel decoded (the reference)."""

    def __init__(self, model: IN2) -> None:
        self.model, self.config = model, model.config

    def parameters(self):
        return self.model.parameters()

    def __call__(self, image, mask, decode_only=None, **kw):
        return self.model(image, mask, **kw)


@pytest.mark.parametrize("mode", ["native", "resize"])
@pytest.mark.parametrize("blend", ["none", "seamless"])
@pytest.mark.parametrize("size,kind", [((45, 67), "several"), ((70, 33), "border"), ((31, 40), "full")])
def test_pipeline_output_unchanged(tiny, monkeypatch, mode, blend, size, kind):
    from in2 import runtime

    monkeypatch.setattr(runtime, "CPU_BF16_MATMULS", False)  # exactness is an fp32 property
    pipe = InpaintPipeline(tiny, device="cpu")
    torch.manual_seed(2)
    image = torch.rand(2, 3, *size)
    mask = _holes(2, *size, kind)[:, 0]
    got = pipe(image, mask, mode=mode, blend=blend).image
    monkeypatch.setattr(pipe, "model", _FullDecode(tiny))
    want = pipe(image, mask, mode=mode, blend=blend).image
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_prediction_reads_cover_the_seamless_ring():
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 30:34, 30:34] = 1
    assert torch.equal(prediction_reads(mask, "none"), mask > 0.5)
    ring = prediction_reads(mask, "seamless", feather=2)  # ring = 2 * feather = 4 px
    assert int(ring.sum()) == 12 * 12
    assert int(prediction_reads(mask, "seamless", feather=2, ring=1).sum()) == 6 * 6
