"""InpaintPipeline end to end with a tiny model, plus device/dtype/budget resolution."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from in2 import IN2, IN2Config, InpaintPipeline, InpaintResult
from in2.errors import InputError
from in2.runtime import bytes_per_pixel, max_pixels, resolve_device, resolve_dtype

H, W = 40, 52


@pytest.fixture(scope="module")
def pipe() -> InpaintPipeline:
    torch.manual_seed(0)
    # a small training size keeps resize mode fast on CPU
    return InpaintPipeline(IN2(IN2Config.tiny(train_resolution=64)), device="cpu")


@pytest.fixture
def hole() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[8:30, 10:40] = 255
    return mask


def _rgb() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)


class _Spy:
    def __init__(self, model):
        self.model, self.calls, self.config = model, [], model.config

    def parameters(self):
        return self.model.parameters()

    def __call__(self, image, mask, **kw):
        self.calls.append(tuple(image.shape))
        return self.model(image, mask, **kw)


def _spy(pipe, monkeypatch) -> _Spy:
    spy = _Spy(pipe.model)
    monkeypatch.setattr(pipe, "model", spy)
    return spy


@pytest.mark.parametrize("mode", ["native", "resize"])
@pytest.mark.parametrize("blend", ["none", "seamless"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.fromarray(_rgb()),
        lambda: Image.fromarray(np.dstack([_rgb(), np.arange(H * W).reshape(H, W) % 256]).astype(np.uint8)),
        lambda: Image.fromarray(_rgb()).convert("L"),
        lambda: (_rgb().astype(np.uint16) * 257),
        lambda: _rgb().astype(np.float32) / 255,
        lambda: torch.from_numpy(_rgb()).permute(2, 0, 1).float() / 255,
    ],
    ids=["RGB", "RGBA", "L", "uint16", "float32", "tensor"],
)
def test_same_kind_same_size_known_pixels_exact(pipe, hole, make, mode, blend):
    image = make()
    out = pipe(image, hole, mode=mode, blend=blend).image
    assert type(out) is type(image)
    if isinstance(image, Image.Image):
        assert out.mode == image.mode and out.size == image.size
        before, after = np.asarray(image), np.asarray(out)
        if image.mode == "RGBA":
            assert np.array_equal(before[..., 3], after[..., 3])  # alpha untouched everywhere
    elif isinstance(image, np.ndarray):
        assert out.dtype == image.dtype and out.shape == image.shape
        before, after = image, out
    else:
        assert out.dtype == image.dtype and out.shape == image.shape
        before, after = image.permute(1, 2, 0).numpy(), out.permute(1, 2, 0).numpy()
    keep = hole < 128
    assert np.array_equal(before[keep], after[keep])
    assert not np.array_equal(before[~keep], after[~keep])


def test_empty_mask_returns_a_copy_without_running_the_model(pipe, monkeypatch):
    spy = _spy(pipe, monkeypatch)
    image = Image.fromarray(_rgb())
    out = pipe(image, np.zeros((H, W), bool)).image
    assert spy.calls == []
    assert out is not image and out.mode == image.mode
    assert np.array_equal(np.asarray(out), np.asarray(image))


def test_full_mask_runs_the_model(pipe, monkeypatch):
    spy = _spy(pipe, monkeypatch)
    out = pipe(_rgb(), np.ones((H, W), bool)).image
    assert spy.calls == [(1, 3, H, W)] and out.shape == (H, W, 3)


def test_batches_run_together_and_lists_of_sizes_one_by_one(pipe, hole, monkeypatch):
    spy = _spy(pipe, monkeypatch)
    batch = torch.rand(3, 3, H, W)
    out = pipe(batch, torch.from_numpy(hole >= 128)).image  # one mask for the whole batch
    assert out.shape == batch.shape and spy.calls == [(3, 3, H, W)]
    keep = torch.from_numpy(hole < 128)
    assert torch.equal(out[..., keep], batch[..., keep])

    spy.calls.clear()
    small = _rgb()[:20, :30]
    images = [_rgb(), small, _rgb()]
    masks = [hole, np.ones((20, 30), bool), np.zeros((H, W), bool)]  # third: nothing to fill
    outs = pipe(images, masks).image
    assert [o.shape for o in outs] == [(H, W, 3), (20, 30, 3), (H, W, 3)]
    assert spy.calls == [(1, 3, H, W), (1, 3, 20, 30)]
    assert np.array_equal(outs[2], images[2])


def test_batch_is_split_to_fit_the_budget(pipe, hole, monkeypatch):
    spy = _spy(pipe, monkeypatch)
    pipe.max_pixels = 2 * H * W
    try:
        out = pipe(torch.rand(5, 3, H, W), torch.from_numpy(hole >= 128)).image
    finally:
        pipe.max_pixels = None
    assert out.shape[0] == 5 and spy.calls == [(2, 3, H, W), (2, 3, H, W), (1, 3, H, W)]


def test_too_large_names_size_limit_and_ways_out(pipe, hole):
    pipe.max_pixels = 1000
    try:
        with pytest.raises(InputError) as info:
            pipe(_rgb(), hole)
        # resize mode runs at train_resolution^2 = 64^2, also over this tiny limit
        with pytest.raises(InputError, match="even resize mode"):
            pipe(_rgb(), hole, mode="resize")
    finally:
        pipe.max_pixels = None
    message = str(info.value)
    for part in (
        "52x40",
        "2,080 pixels",
        "limit is 1,000 pixels",
        "max_pixels",
        "mode='resize'",
        "crop",
        "smaller image",
        "GPU",
    ):
        assert part in message, part


def test_resize_mode_runs_the_model_at_train_resolution(pipe, hole, monkeypatch):
    spy = _spy(pipe, monkeypatch)
    out = pipe(Image.fromarray(_rgb()), hole, mode="resize").image
    side = pipe.model.config.train_resolution
    assert side == 64
    assert spy.calls == [(1, 3, side, side)] and out.size == (W, H)


def test_progress_is_forwarded_and_can_interrupt(pipe, hole):
    seen = []
    pipe(_rgb(), hole, chunk_size=256, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] and len(seen) > 3

    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop

    with pytest.raises(Stop):
        pipe(_rgb(), hole, progress=stop)


def test_chunking_does_not_change_the_result(pipe, hole):
    image = _rgb()
    assert np.array_equal(pipe(image, hole, chunk_size=97).image, pipe(image, hole).image)


def test_bad_arguments(pipe, hole):
    with pytest.raises(InputError, match="unknown mode 'origin'"):
        pipe(_rgb(), hole, mode="origin")
    with pytest.raises(InputError, match="unknown blend"):
        pipe(_rgb(), hole, blend="poisson")
    with pytest.raises(InputError, match="52x41"):
        pipe(_rgb(), np.zeros((41, W), bool))


def test_describe_and_repr_name_the_weights(pipe):
    text = pipe.describe()
    assert "in-memory IN2" in text and "cpu" in text and "fp32" in text and "parameters" in text
    assert repr(pipe).startswith("InpaintPipeline(")
    assert pipe.model.training is False


# --------------------------------------------------------------------------- runtime


def test_memory_message_names_bytes_per_pixel_and_available_memory(pipe, hole, monkeypatch):
    monkeypatch.setattr("in2.pipeline.budget_pixels", lambda device, dtype, **_: 1000)
    with pytest.raises(InputError, match=r"not enough memory: about \d+ bytes per output pixel, [\d.]+ GiB available"):
        pipe(_rgb(), hole)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cpu:0") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(InputError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="--device cpu"):
            resolve_device("cuda")


def test_resolve_dtype():
    assert resolve_dtype("fp32", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    assert resolve_dtype("auto", "cpu") == torch.float32
    with pytest.warns(UserWarning, match="fp16"):
        assert resolve_dtype("fp16", "cpu") == torch.float32
    with pytest.raises(InputError, match="unknown dtype"):
        resolve_dtype("int8", "cpu")


def test_max_pixels_scales_with_available_memory():
    small, large = (
        max_pixels("cpu", torch.float32, available=4 << 30),
        max_pixels("cpu", torch.float32, available=16 << 30),
    )
    assert 0 < small < large
    assert max_pixels("cpu", torch.float32, available=1 << 20) == 0
    # /proc/meminfo is readable here: a real limit, one that fits at least a 316x316 image
    assert max_pixels("cpu") >= 100_000


def test_cpu_budget_admits_4k_where_it_measured_to_fit():
    """3840x2160 peaked at 2.8 GiB on the CPU (default model, 25% hole; README): 8 GiB free must
    admit it, while the GPU table stays at its larger measured slope."""
    assert max_pixels("cpu", torch.float32, available=8 << 30) >= 3840 * 2160
    assert bytes_per_pixel("cpu") < bytes_per_pixel("cuda")


def test_bf16_on_cpu_runs(hole):
    torch.manual_seed(0)
    pipe = InpaintPipeline(IN2(IN2Config.tiny()), device="cpu", dtype="bf16")
    image = _rgb()
    out = pipe(image, hole).image
    assert out.dtype == np.uint8 and np.array_equal(out[hole < 128], image[hole < 128])


# --------------------------------------------------------------------------- crop and mask preparation


def _two_holes(height: int = 200, width: int = 300) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[20:30, 30:42] = True
    mask[150:160, 240:252] = True
    return mask


def test_crop_on_fills_each_region_in_its_own_box_as_one_batch(pipe, monkeypatch):
    image = np.random.default_rng(2).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    mask = _two_holes()
    spy = _spy(pipe, monkeypatch)
    out = pipe(image, mask, crop="on", context=3.0, context_min=48).image
    assert spy.calls == [(2, 3, 48, 48)]  # two equal boxes, one forward
    assert out.shape == image.shape and np.array_equal(out[~mask], image[~mask])
    assert not np.array_equal(out[mask], image[mask])
    # stitched pixels are exactly what the model gives for that box alone
    box = (slice(1, 49), slice(12, 60))  # the first hole's 48x48 box, centred on it
    alone = pipe(image[box], mask[box], crop="off").image
    assert np.array_equal(out[box], alone)


def test_crop_off_and_auto_on_a_small_photo_run_it_whole(pipe, monkeypatch):
    spy = _spy(pipe, monkeypatch)
    image, mask = _rgb(), _two_holes(H, W)[:H, :W]
    mask[5:8, 5:8] = True
    pipe(image, mask, crop="off")
    pipe(image, mask, crop="auto", context_min=8)
    assert spy.calls == [(1, 3, H, W)] * 2


def test_auto_crops_when_the_whole_photo_is_over_budget(pipe, monkeypatch):
    image = np.random.default_rng(3).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    mask = _two_holes()
    pipe.max_pixels = 100 * 100
    try:
        with pytest.raises(InputError, match="crop='on'"):
            pipe(image, mask, crop="off")
        spy = _spy(pipe, monkeypatch)
        out = pipe(image, mask, context_min=64).image
    finally:
        pipe.max_pixels = None
    assert spy.calls == [(2, 3, 64, 64)]
    assert np.array_equal(out[~mask], image[~mask])


def test_auto_crops_small_holes_in_a_large_photo(pipe, monkeypatch):
    monkeypatch.setattr("in2.regions.AUTO_CROP_MIN_PIXELS", 200 * 300)
    spy = _spy(pipe, monkeypatch)
    image = np.random.default_rng(4).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    pipe(image, _two_holes(), context_min=48)
    assert spy.calls == [(1 * 2, 3, 48, 48)]
    spy.calls.clear()
    big_hole = np.zeros((200, 300), bool)
    big_hole[20:180, 20:280] = True  # its box covers most of the photo: whole photo
    pipe(image, big_hole, context_min=48)
    assert spy.calls == [(1, 3, 200, 300)]


def test_grow_fill_holes_and_the_returned_mask(pipe):
    image = _rgb()
    mask = np.zeros((H, W), bool)
    mask[10:20, 10:20] = True
    mask[14, 14] = False
    result = pipe(image, mask, grow=2, fill_holes=True)
    out, filled = result.image, result.mask
    assert filled.dtype == torch.bool and filled.shape == (H, W)
    assert bool(filled[14, 14]) and bool(filled[8, 15]) and not bool(filled[7, 15])
    keep = ~filled.numpy()
    assert np.array_equal(out[keep], image[keep]) and not np.array_equal(out[8], image[8])
    result = pipe(torch.rand(2, 3, H, W), torch.from_numpy(mask))
    outs, masks = result.image, result.mask
    assert outs.shape == (2, 3, H, W) and masks.shape == (2, H, W) and torch.equal(masks[0], torch.from_numpy(mask))


def test_bad_crop_arguments(pipe, hole):
    with pytest.raises(InputError, match="unknown crop"):
        pipe(_rgb(), hole, crop="yes")
    with pytest.raises(InputError, match="context"):
        pipe(_rgb(), hole, context=0.5)
    with pytest.raises(InputError, match="grow"):
        pipe(_rgb(), hole, grow="lots")


# ------------------------------------------------------------------ where it runs


def test_the_pipeline_runs_where_its_weights_are():
    on_meta = InpaintPipeline(IN2(IN2Config.tiny()).to("meta"), device=None)
    assert on_meta.device == torch.device("meta")  # device=None leaves the weights in place
    pipe = InpaintPipeline(IN2(IN2Config.tiny()), device=None)
    assert pipe.to("cpu") is pipe and pipe.device == torch.device("cpu")
    pipe.model.to("meta")  # moved by someone else (ComfyUI's model management, say)
    assert pipe.device == torch.device("meta") and "meta" in pipe.describe()


def test_dtype_is_resolved_for_the_device_the_weights_are_on():
    pipe = InpaintPipeline(IN2(IN2Config.tiny()), device="cpu", dtype="auto")
    assert pipe.dtype == torch.float32  # auto is fp32 on the CPU
    with pytest.raises(InputError, match="unknown dtype"):
        InpaintPipeline(IN2(IN2Config.tiny()), device=None, dtype="int8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_inputs_follow_the_weights_between_devices(hole):
    torch.manual_seed(0)
    pipe = InpaintPipeline(IN2(IN2Config.tiny()), device="cpu")
    image = torch.rand(2, 3, H, W)
    mask = torch.from_numpy(hole >= 128)
    on_cpu = pipe(image, mask).image
    pipe.to("cuda")
    assert pipe.device.type == "cuda"
    assert torch.allclose(pipe(image, mask).image, on_cpu, atol=1e-4)  # CPU inputs, GPU weights, CPU result
    result = pipe(image.cuda(), mask.cuda(), grow=2, crop="on", context_min=16)
    out, filled = result.image, result.mask
    assert out.device.type == "cuda" and filled.device.type == "cuda"  # results and holes stay with the input
    pipe.model.to("cpu")
    out = pipe(image.cuda(), mask.cuda()).image  # GPU inputs, CPU weights: runs on the CPU, answers on the GPU
    assert out.device.type == "cuda" and torch.allclose(out.cpu(), on_cpu, atol=1e-4)


def test_without_a_device_the_precision_is_resolved_where_it_first_runs():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe = InpaintPipeline(IN2(IN2Config.tiny()), device=None, dtype="fp16")  # nothing said yet
    with pytest.warns(UserWarning, match="fp16 is not supported on CPU"):
        assert pipe.dtype == torch.float32  # on the CPU, at first use


def test_options_take_numpy_and_torch_scalars_and_whole_floats(pipe, hole):
    image = _rgb()
    plain = pipe(image, hole, crop="on", context_min=64, threshold=0.5, grow=4).image
    odd = pipe(image, hole, crop="on", context_min=64.0, threshold=np.float32(0.5), grow=np.int64(4),
               context=torch.tensor(3.0), chunk_size=np.int32(4096)).image
    assert np.array_equal(plain, odd)
    with pytest.raises(InputError, match="context_min must be a whole number of pixels from 1 to 65536, got 384.5"):
        pipe(image, hole, context_min=384.5)


def test_a_huge_grow_is_refused_at_once_instead_of_running_forever(pipe, hole):
    import time

    start = time.perf_counter()
    for grow in (1e6, "1e9", "80%"):
        with pytest.raises(InputError, match="grow must be pixels from -1024 to 1024"):
            pipe(_rgb(), hole, grow=grow)
    assert time.perf_counter() - start < 5


def test_cpu_bf16_matmuls_stay_within_their_bound(monkeypatch) -> None:
    """The CPU default runs the matrix products in bf16: on a real photo with the bundled weights
    the filled pixels stay within 45 dB hole PSNR of the all-fp32 result, known pixels bit-exact."""
    from in2 import runtime
    from in2.imaging import image_to_tensor, mask_to_tensor

    if runtime.cpu_matmul_dtype(torch.device("cpu"), torch.float32) is None:
        pytest.skip("this CPU has no native bf16: the matrix products stay fp32")
    root = Path(__file__).resolve().parents[2] / "examples"
    image = image_to_tensor(Image.open(root / "grace_hopper.jpg"))[:, 100:292, 150:342]
    hole = mask_to_tensor(Image.open(root / "grace_hopper_mask.png"))[100:292, 150:342]
    assert 0.05 < float(hole.float().mean()) < 0.95
    pipe = InpaintPipeline.from_pretrained(device="cpu")
    reduced = pipe(image, hole.float()).image
    monkeypatch.setattr(runtime, "CPU_BF16_MATMULS", False)
    exact = pipe(image, hole.float()).image
    assert not torch.equal(reduced, exact), "bf16 was not used"
    assert torch.equal(reduced[:, ~hole], image[:, ~hole])
    mse = float(((reduced - exact)[:, hole] ** 2).mean())
    assert mse == 0 or 10 * math.log10(1 / mse) >= 45.0


@pytest.mark.parametrize("mode", ["native", "resize"])
def test_the_fill_never_depends_on_what_the_hole_hides(pipe, hole, mode) -> None:
    """Resize mode spreads each pixel over its neighbours: without care the hidden content would
    reach the known pixels around the hole and, through them, the fill."""
    image = torch.from_numpy(_rgb()).permute(2, 0, 1).float() / 255
    other = image.clone()
    inside = torch.from_numpy(hole > 0)
    other[:, inside] = 1 - other[:, inside]
    first = pipe(image, torch.from_numpy(hole > 0), mode=mode, blend="none").image
    second = pipe(other, torch.from_numpy(hole > 0), mode=mode, blend="none").image
    assert torch.equal(first, second)


def test_the_result_names_image_mask_and_the_time_of_each_stage(pipe):
    hole = np.zeros((H, W), bool)
    hole[10:20, 12:30] = True
    result = pipe(_rgb(), hole, grow=1)
    assert isinstance(result, InpaintResult) and result.image.shape == (H, W, 3)
    assert result.mask.shape == (H, W) and int(result.mask.sum()) == 12 * 20  # grown by one pixel
    stages = result.timings
    assert set(stages) == {"prepare", "inpaint", "total"} and min(stages.values()) > 0
    assert stages["total"] == pytest.approx(stages["prepare"] + stages["inpaint"])
