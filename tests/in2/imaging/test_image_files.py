"""Image files (``in2.imaging.files``): read upright and whole, written whole in the format the
extension names, never over an input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from in2.errors import InputError
from in2.imaging import (
    IMAGE_EXTENSIONS,
    check_not_an_input,
    is_image_name,
    load_image,
    load_mask,
    output_fit,
    read_image_file,
    save_image,
)

RNG = np.random.default_rng(0)


def _rgb8() -> np.ndarray:
    return RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8)


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


def test_save_image_formats(tmp_path):
    rgba = Image.fromarray(RNG.integers(0, 256, (13, 17, 4), dtype=np.uint8))
    save_image(rgba, tmp_path / "a.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(rgba))
    i16 = Image.fromarray(RNG.integers(0, 65536, (13, 17), dtype=np.uint16))
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


# ------------------------------------------------------------------ formats: faithful, converted, or refused

_MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]


def _sample(mode: str) -> Image.Image:
    """A small image of ``mode`` with values spread over the mode's whole range."""
    if mode in ("I;16", "I"):
        return Image.fromarray(RNG.integers(0, 65536, (9, 11)).astype(np.uint16 if mode == "I;16" else np.int32))
    if mode == "F":
        return Image.fromarray(RNG.random((9, 11)).astype(np.float32), "F")
    if mode == "P":
        return Image.fromarray(_rgb8()[:9, :11]).quantize(64)
    return Image.fromarray(RNG.integers(0, 256, (9, 11, 4), dtype=np.uint8), "RGBA").convert(mode)


def _as_8bit(image: Image.Image) -> np.ndarray:
    """What an 8-bit reader shows for a 16-bit or float gray image: value / 257 (or x 255), rounded."""
    values = np.asarray(image).astype(np.float64)
    return np.rint(np.clip(values * 65535 if image.mode == "F" else values, 0, 65535) / 257).astype(np.uint8)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tif", ".gif", ".ppm", ".tga"])
@pytest.mark.parametrize("mode", _MODES)
def test_every_format_keeps_the_photo_converts_it_correctly_or_refuses_it(tmp_path, mode, ext):
    image = _sample(mode)
    try:
        fit = output_fit(mode, f"out{ext}")
    except InputError as exc:
        assert "use " in str(exc) or "convert it" in str(exc)
        with pytest.raises(InputError):
            save_image(image, tmp_path / f"out{ext}")
        return
    save_image(image, tmp_path / f"out{ext}", fit)
    back = Image.open(tmp_path / f"out{ext}")
    if fit.note and "lossy" in fit.note or fit.note and "256 colours" in fit.note:
        return  # said aloud: the caller warns
    if "8 bits" in (fit.note or ""):  # 8-bit formats: scaled, never clipped to white
        assert mode in ("I;16", "I", "F")
        assert np.array_equal(np.asarray(back.convert("L")), _as_8bit(image))
    elif mode == "F":
        assert np.allclose(
            np.asarray(back).astype(np.float64) / (1 if back.mode == "F" else 65535), np.asarray(image), atol=1 / 65535
        )
    elif mode in ("I;16", "I"):
        assert np.array_equal(np.asarray(back).astype(np.int64), np.asarray(image).astype(np.int64))
    else:  # exact: every colour back (palette order and a lossless widening of the mode may differ)
        space = "CMYK" if mode == "CMYK" else "RGBA"
        assert np.array_equal(np.asarray(back.convert(space)), np.asarray(image.convert(space)))


def test_a_refusal_names_the_formats_that_work():
    with pytest.raises(InputError, match=r"PNG cannot store a CMYK image \(x.png\): use .jpg, .jpeg, .tif, .tiff"):
        output_fit("CMYK", "x.png")
    with pytest.raises(InputError, match="cannot store the alpha channel of this LA image.*use .png, .webp, .tif"):
        output_fit("LA", "x.jpg")


def test_16_bit_colour_is_read_at_8_bits_with_a_warning(tmp_path):
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(tmp_path / "deep.png"), RNG.integers(0, 65536, (5, 6, 3)).astype(np.uint16))
    with pytest.warns(UserWarning, match="16 bits per colour channel and is read at 8"):
        assert load_image(tmp_path / "deep.png").mode == "RGB"
    Image.fromarray(RNG.integers(0, 65536, (5, 6)).astype(np.uint16)).save(tmp_path / "gray.png")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(tmp_path / "gray.png").mode in ("I;16", "I")  # 16-bit gray stays 16-bit, silently
