"""Image files (``in2.imaging.files``): read upright and whole, written whole in the format the
extension names, never over an input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from in2.errors import InputError
from in2.imaging import IMAGE_EXTENSIONS, check_not_an_input, is_image_name, load_image, load_mask, read_image_file, save_image

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
