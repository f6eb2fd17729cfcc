"""Image conversion (``in2.imaging.images``): every input kind goes in as float and comes back as itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from in2.errors import InputError
from in2.imaging import image_to_tensor, read_images

H, W = 13, 17
RNG = np.random.default_rng(0)
HOLE = np.zeros((H, W), bool)
HOLE[3:9, 4:12] = True


def _rgb8() -> np.ndarray:
    return RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _pil_inputs() -> dict[str, Image.Image]:
    rgb = Image.fromarray(_rgb8())
    return {
        "RGB": rgb,
        "RGBA": Image.fromarray(RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)),
        "L": rgb.convert("L"),
        "LA": rgb.convert("LA"),
        "P": rgb.convert("P"),
        "1": rgb.convert("1"),
        "I;16": Image.fromarray(RNG.integers(0, 65536, (H, W), dtype=np.uint16)),
        "I": rgb.convert("I"),
        "F": rgb.convert("F").point(lambda v: v / 255.0),
        "CMYK": rgb.convert("CMYK"),
    }


def _roundtrip(image, value: float = 0.25):
    """Restore every image with a constant prediction in the hole."""
    batch = read_images(image)
    results = [torch.full((3, h, w), value) for h, w in batch.sizes]
    holes = [torch.from_numpy(HOLE)] * len(batch)
    return batch, batch.restore(results, holes)


@pytest.mark.parametrize("mode", list(_pil_inputs()))
def test_pil_modes_round_trip_with_known_pixels_exact(mode):
    image = _pil_inputs()[mode]
    batch, out = _roundtrip(image)
    assert batch.tensors[0].shape == (3, H, W) and batch.tensors[0].dtype == torch.float32
    assert isinstance(out, Image.Image)
    assert out.mode == image.mode and out.size == image.size
    before, after = np.asarray(image), np.asarray(out)
    assert np.array_equal(before[~HOLE], after[~HOLE])
    if mode not in ("1",):
        assert not np.array_equal(before[HOLE], after[HOLE])


def test_rgba_alpha_passes_through_untouched_even_in_the_hole():
    image = _pil_inputs()["RGBA"]
    _, out = _roundtrip(image)
    assert np.array_equal(np.asarray(image)[..., 3], np.asarray(out)[..., 3])
    assert np.all(np.asarray(out)[HOLE][:, :3] == 64)  # 0.25 * 255 rounded


def test_gray_result_is_luminance_and_palette_keeps_its_palette():
    gray = _pil_inputs()["L"]
    batch = read_images(gray)
    pred = torch.zeros(3, H, W)
    pred[0] = 1.0  # pure red -> 0.299 * 255
    out = batch.restore([pred], [torch.from_numpy(HOLE)])
    assert np.all(np.asarray(out)[HOLE] == 76)
    pal = _pil_inputs()["P"]
    _, out = _roundtrip(pal)
    assert out.getpalette() == pal.getpalette()


def test_sixteen_bit_stays_sixteen_bit():
    arr = RNG.integers(0, 65536, (H, W, 3), dtype=np.uint16)
    batch, out = _roundtrip(arr)
    assert out.dtype == np.uint16 and out.shape == arr.shape
    assert np.array_equal(out[~HOLE], arr[~HOLE])
    assert np.all(out[HOLE] == round(0.25 * 65535))
    # the float view keeps all 16 bits
    assert torch.allclose(batch.tensors[0][:, 0, 0], torch.from_numpy(arr[0, 0].astype(np.float32) / 65535))


@pytest.mark.parametrize(
    "arr",
    [
        RNG.integers(0, 256, (H, W, 3), dtype=np.uint8),
        RNG.integers(0, 256, (H, W, 4), dtype=np.uint8),
        RNG.integers(0, 256, (H, W), dtype=np.uint8),
        RNG.integers(0, 256, (H, W, 1), dtype=np.uint8),
        RNG.random((H, W, 3)),
        RNG.random((H, W, 3)).astype(np.float32),
        RNG.random((H, W)).astype(np.float16),
        RNG.random((H, W)) > 0.5,
    ],
    ids=["u8-rgb", "u8-rgba", "u8-gray", "u8-1ch", "f64", "f32", "f16-gray", "bool"],
)
def test_numpy_round_trip(arr):
    _, out = _roundtrip(arr)
    assert isinstance(out, np.ndarray) and out.dtype == arr.dtype and out.shape == arr.shape
    assert np.array_equal(out[~HOLE], arr[~HOLE])
    if arr.ndim == 3 and arr.shape[2] == 4:
        assert np.array_equal(out[..., 3], arr[..., 3])


@pytest.mark.parametrize(
    "tensor",
    [
        torch.rand(3, H, W),
        torch.rand(1, H, W),
        torch.rand(4, H, W),
        torch.rand(3, H, W, dtype=torch.float64),
        torch.rand(3, H, W).half(),
        torch.rand(3, H, W).bfloat16(),
        torch.randint(0, 256, (3, H, W), dtype=torch.uint8),
        torch.rand(2, 3, H, W),
    ],
    ids=["rgb", "gray", "rgba", "f64", "f16", "bf16", "u8", "batch"],
)
def test_tensor_round_trip(tensor):
    batch, out = _roundtrip(tensor)
    assert isinstance(out, torch.Tensor) and out.shape == tensor.shape and out.dtype == tensor.dtype
    keep = ~torch.from_numpy(HOLE)
    assert torch.equal(out[..., keep], tensor[..., keep])
    assert len(batch) == (tensor.shape[0] if tensor.ndim == 4 else 1)
    if tensor.shape[-3] == 4:  # alpha passes through untouched, even in the hole
        assert torch.equal(out[3], tensor[3])


def test_list_round_trip_keeps_each_kind():
    images = [_rgb8(), Image.fromarray(_rgb8()), torch.rand(3, H, W)]
    _, out = _roundtrip(images)
    assert isinstance(out, list) and len(out) == 3
    assert isinstance(out[0], np.ndarray) and isinstance(out[1], Image.Image) and isinstance(out[2], torch.Tensor)


def _image_of(kind: str):
    if kind == "numpy":
        return _rgb8()
    if kind == "tensor":
        return torch.rand(3, H, W)
    return _pil_inputs()[kind]


@pytest.mark.parametrize("kind", ["numpy", "RGB", "P", "CMYK", "tensor"])
@pytest.mark.parametrize("result", ["none", "empty hole"])
def test_unchanged_result_is_a_copy(kind, result):
    image = _image_of(kind)
    batch = read_images(image)
    prediction = None if result == "none" else torch.full((3, H, W), 0.25)
    out = batch.restore([prediction], [torch.zeros(H, W, dtype=torch.bool)])
    assert out is not image and type(out) is type(image)
    if isinstance(image, Image.Image):
        assert out.mode == image.mode
    assert np.array_equal(np.asarray(out), np.asarray(image))


def test_image_to_tensor_repeats_gray():
    t = image_to_tensor(np.full((H, W), 255, np.uint8))
    assert t.shape == (3, H, W) and torch.all(t == 1)


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (np.zeros((H, W, 3), np.int64), "unsupported image dtype int64.*uint8"),
        (np.zeros((0, W, 3), np.uint8), "empty \\(17x0 pixels\\)"),
        (np.full((H, W, 3), 255.0), "must be in \\[0, 1\\].*divide"),
        (np.zeros((H, W, 5), np.uint8), "5 channels"),
        (torch.rand(5, H, W), "5 channels"),
        (torch.zeros(2, 3, 0, W), "empty"),
        ("photo.png", "unsupported image type str.*load_image"),
        ([], "list is empty"),
        (Image.new("RGB", (0, 0)), "empty"),
    ],
)
def test_bad_images_raise_input_error(bad, pattern):
    with pytest.raises(InputError, match=pattern):
        read_images(bad)
