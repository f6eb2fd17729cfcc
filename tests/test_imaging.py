"""Image and mask conversion: every input kind goes in as float and comes back as itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from in2.errors import InputError
from in2.imaging import (
    IMAGE_EXTENSIONS,
    check_not_an_input,
    hole_batch,
    image_to_tensor,
    is_image_name,
    load_image,
    read_image_file,
    load_mask,
    mask_to_tensor,
    read_images,
    read_masks,
    save_image,
)

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


# --------------------------------------------------------------------------- masks


def _mask_of(mask) -> np.ndarray:
    return mask_to_tensor(mask).numpy()


def test_mask_thresholds_at_half_scale():
    assert _mask_of(np.array([[127, 128]], np.uint8)).tolist() == [[False, True]]
    assert _mask_of(np.array([[32767, 32768]], np.uint16)).tolist() == [[False, True]]
    assert _mask_of(np.array([[0.49, 0.5]], np.float32)).tolist() == [[False, True]]
    assert _mask_of(np.array([[False, True]])).tolist() == [[False, True]]
    assert _mask_of(torch.tensor([[0.2, 0.7]])).tolist() == [[False, True]]
    assert _mask_of(Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")).tolist() == [[False, True]]


def test_threshold_moves_the_soft_mask_level():
    soft = np.linspace(0, 1, 11, dtype=np.float32).reshape(1, 11)
    assert int(read_masks(soft, [(1, 11)])[0].sum()) == 6  # >= 0.5
    assert int(read_masks(soft, [(1, 11)], threshold=0.75)[0].sum()) == 3
    assert int(read_masks((soft * 255).round().astype(np.uint8), [(1, 11)], threshold=0.1)[0].sum()) == 10
    assert int(read_masks(torch.from_numpy(soft), [(1, 11)], threshold=0.25)[0].sum()) == 8


def test_rgb_mask_uses_luminance():
    mask = np.zeros((1, 3, 3), np.uint8)
    mask[0, 0] = (255, 255, 255)  # white: fill
    mask[0, 1] = (255, 0, 0)  # red: luminance 0.299, keep
    mask[0, 2] = (0, 255, 0)  # green: 0.587, fill
    assert _mask_of(mask).tolist() == [[True, False, True]]
    assert _mask_of(Image.fromarray(mask)).tolist() == [[True, False, True]]


def test_rgba_mask_uses_alpha_when_it_is_used_else_luminance():
    painted = np.zeros((1, 3, 4), np.uint8)  # a brush layer: black strokes on transparent
    painted[0, 1, 3] = 255
    painted[0, 2, 3] = 100  # faint edge below half: keep
    assert _mask_of(Image.fromarray(painted)).tolist() == [[False, True, False]]
    opaque = np.full((1, 2, 4), 255, np.uint8)  # white-on-black saved as RGBA
    opaque[0, 0, :3] = 0
    assert _mask_of(opaque).tolist() == [[False, True]]
    la = Image.fromarray(painted).convert("LA")
    assert _mask_of(la).tolist() == [[False, True, False]]


def test_read_masks_broadcasts_one_mask_and_splits_batches():
    sizes = [(H, W)] * 3
    one = read_masks(HOLE, sizes)
    assert len(one) == 3 and all(torch.equal(m, torch.from_numpy(HOLE)) for m in one)
    batched = torch.zeros(3, 1, H, W)
    batched[1, 0, 0, 0] = 1
    split = read_masks(batched, sizes)
    assert [bool(m.any()) for m in split] == [False, True, False]
    for shape in [(H, W), (1, H, W), (3, H, W), (1, 1, H, W)]:
        assert len(read_masks(torch.zeros(shape), sizes)) == 3


def test_hole_batch_is_b1hw_bool_for_every_mask_kind():
    soft = torch.zeros(2, H, W)
    soft[1, 3:9, 4:12] = 0.6
    expected = soft[:, None] >= 0.5
    for masks in (soft, soft[:, None], [soft[0].numpy(), Image.fromarray((soft[1].numpy() * 255).astype(np.uint8))]):
        batch = hole_batch(masks)
        assert batch.dtype == torch.bool and torch.equal(batch, expected)
    assert torch.equal(hole_batch(soft, threshold=0.7), torch.zeros(2, 1, H, W, dtype=torch.bool))
    with pytest.raises(InputError, match="different sizes"):
        hole_batch([np.zeros((H, W), bool), np.zeros((W, H), bool)])


def test_bool_mask_tensor_is_not_handed_back_as_the_hole():
    mask = torch.zeros(H, W, dtype=torch.bool)
    hole = read_masks(mask, [(H, W)])[0]
    mask[0, 0] = True
    assert not bool(hole.any())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.float16, torch.float32])
def test_tensor_masks_stay_on_their_device(dtype):
    mask = (torch.rand(2, 1, H, W, device="cuda") > 0.5).to(dtype)
    holes = read_masks(mask * (255 if dtype == torch.uint8 else 1), [(H, W)] * 2)
    assert all(h.device == mask.device and h.dtype == torch.bool for h in holes)
    assert torch.equal(torch.stack(holes), mask[:, 0].bool())


# --------------------------------------------------------------------------- errors


def test_size_mismatch_names_both_sizes():
    with pytest.raises(InputError, match=r"mask is 20x10 but the image is 17x13.*exact size"):
        read_masks(np.zeros((10, 20), bool), [(H, W)])


def test_mask_channel_and_count_errors():
    with pytest.raises(InputError, match="3 channels.*one channel"):
        read_masks(torch.zeros(1, 3, H, W), [(H, W)])
    with pytest.raises(InputError, match="3 mask"):
        read_masks([HOLE, HOLE, HOLE], [(H, W), (H, W)])
    with pytest.raises(InputError, match="mask array has shape"):
        read_masks(np.zeros((H, W, 5)), [(H, W)])


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


def test_bad_mask_values():
    with pytest.raises(InputError, match="int64"):
        read_masks(np.zeros((H, W), np.int64), [(H, W)])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        read_masks(np.full((H, W), 255.0), [(H, W)])


# --------------------------------------------------------------------------- files


def test_load_image_applies_exif_orientation(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = tmp_path / "phone.jpg"
    Image.fromarray(arr).save(path, exif=exif.tobytes(), quality=100)
    loaded = load_image(path)
    assert loaded.size == (10, 20)
    top = np.asarray(loaded)[:10].mean()
    assert top > 200  # the white half is on top after rotation
    assert load_mask(path).size == (10, 20)


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InputError, match="not an image"):
        load_image(text)
    full = tmp_path / "full.png"
    Image.fromarray(_rgb8()).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:-200])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_mask(cut)


def test_oversized_file_is_an_input_error(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(_rgb8()).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # PIL refuses more than twice this
    with pytest.raises(InputError, match="too large to open"):
        load_image(path)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 5, 5), (2, 0, 5), (1, 1, 5, 0)])
def test_empty_float_mask_tensor_is_an_input_error(shape):
    with pytest.raises(InputError, match="empty"):
        mask_to_tensor(torch.zeros(shape))


def test_save_image_formats(tmp_path):
    rgba = _pil_inputs()["RGBA"]
    save_image(rgba, tmp_path / "a.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(rgba))
    i16 = _pil_inputs()["I;16"]
    save_image(i16, tmp_path / "deep.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "deep.png")).astype(np.uint16), np.asarray(i16))
    with pytest.raises(InputError, match="RGBA"):
        save_image(rgba, tmp_path / "a.jpg")
    with pytest.raises(InputError, match="unknown output extension"):
        save_image(rgba, tmp_path / "a.xyz")


@pytest.mark.parametrize("ext", IMAGE_EXTENSIONS)
def test_every_listed_extension_is_written_and_read_back(tmp_path, ext):
    image = Image.fromarray(_rgb8())
    path = tmp_path / f"out{ext.upper()}"
    assert is_image_name(path)
    save_image(image, path)
    assert load_image(path).size == image.size


def test_other_files_are_not_images():
    assert not is_image_name("notes.txt") and not is_image_name("README") and not is_image_name(".png")


def test_an_output_that_is_an_input_is_refused(tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(_rgb8()).save(photo)
    link = tmp_path / "link.png"
    link.symlink_to(photo)
    for output in (photo, link, tmp_path / "sub" / ".." / "photo.png"):
        with pytest.raises(InputError, match="is the image"):
            check_not_an_input(output, {"image": photo, "mask": tmp_path / "mask.png"})
    check_not_an_input(tmp_path / "result.png", {"image": photo})


def test_files_at_a_url_are_written_whole_and_read_back():
    pytest.importorskip("fsspec")
    image = Image.fromarray(_rgb8())
    url = "memory://in2-imaging-test/sub/photo.png"
    save_image(image, url)
    assert np.array_equal(np.asarray(read_image_file(url)), np.asarray(image))
    with pytest.raises(InputError, match="cannot read mask memory://in2-imaging-test/missing.png"):
        read_image_file("memory://in2-imaging-test/missing.png", "mask")
