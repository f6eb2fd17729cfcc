"""Photos a format cannot hold as they are: transparency, values beyond 16 bits, several frames.
Each is written faithfully or refused before inference, never silently changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2 import InputError
from in2.cli import main
from in2.imaging import load_image, output_fit

RNG = np.random.default_rng(5)


def _mask(path: Path, size: tuple[int, int] = (20, 16)) -> Path:
    hole = np.zeros(size[::-1], np.uint8)
    hole[4:9, 5:12] = 255
    Image.fromarray(hole).save(path)
    return path


def _palette_with_transparency(path: Path) -> Path:
    image = Image.fromarray(RNG.integers(0, 256, (16, 20, 3), dtype=np.uint8)).quantize(16)
    image.save(path, transparency=3)
    return path


def _inpaint(image: Path, mask: Path, out: Path, weights: Path) -> int:
    return main(["inpaint", str(image), str(mask), "-o", str(out), "--weights", str(weights), "--device", "cpu", "-q"])


@pytest.mark.parametrize("ext", [".bmp", ".ppm", ".jpg"])
def test_palette_transparency_where_the_format_cannot_keep_it_is_refused_before_inference(tmp_path, tiny_weights,
                                                                                          capsys, ext):
    photo = _palette_with_transparency(tmp_path / "p.png")
    assert _inpaint(photo, _mask(tmp_path / "m.png"), tmp_path / f"out{ext}", tiny_weights) == 2
    err = capsys.readouterr().err
    assert "cannot store the transparency of this palette image" in err and "Traceback" not in err
    assert not (tmp_path / f"out{ext}").exists()


@pytest.mark.parametrize("ext", [".tif", ".tga", ".png", ".webp"])
def test_palette_transparency_survives_where_the_format_can_keep_it(tmp_path, tiny_weights, ext):
    photo = _palette_with_transparency(tmp_path / "p.png")
    assert _inpaint(photo, _mask(tmp_path / "m.png"), tmp_path / f"out{ext}", tiny_weights) == 0
    before = np.asarray(Image.open(photo).convert("RGBA"))
    after = np.asarray(Image.open(tmp_path / f"out{ext}").convert("RGBA"))
    outside = np.ones(before.shape[:2], bool)
    outside[4:9, 5:12] = False
    assert (before[..., 3] == 0).any() and np.array_equal(after[outside][:, 3], before[outside][:, 3])


def test_a_32_bit_photo_beyond_16_bits_is_refused_for_png_and_kept_by_tiff(tmp_path, tiny_weights, capsys):
    values = RNG.integers(0, 200_000, (16, 20)).astype(np.int32)
    Image.fromarray(values).save(tmp_path / "deep.tif")
    mask = _mask(tmp_path / "m.png")
    assert _inpaint(tmp_path / "deep.tif", mask, tmp_path / "out.png", tiny_weights) == 2
    assert "beyond the 0-65535 that PNG stores" in capsys.readouterr().err and not (tmp_path / "out.png").exists()
    assert _inpaint(tmp_path / "deep.tif", mask, tmp_path / "out.tif", tiny_weights) == 0
    kept = np.asarray(Image.open(tmp_path / "out.tif"))
    outside = np.ones(values.shape, bool)
    outside[4:9, 5:12] = False
    assert np.array_equal(kept[outside], values[outside])
    fits = Image.fromarray(np.minimum(values, 65535).astype(np.int32))
    assert output_fit(fits, "x.png").mode == "I;16"  # within 16 bits: written exactly


def _frames(path: Path, **options) -> Path:
    frames = [Image.fromarray(RNG.integers(0, 256, (16, 20, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], **options)
    return path


@pytest.mark.parametrize("name,options", [("anim.gif", {"duration": 100, "loop": 0}), ("anim.png", {"duration": 100}),
                                          ("pages.tif", {})])
def test_multi_frame_files_are_refused_not_cut_to_their_first_frame(tmp_path, name, options):
    path = _frames(tmp_path / name, **options)
    with pytest.raises(InputError, match="holds 3 frames .* save the frame you want as its own PNG"):
        load_image(path)


def test_a_phone_photo_with_a_preview_frame_is_one_photo(tmp_path):
    frames = [Image.fromarray(RNG.integers(0, 256, (16, 20, 3), dtype=np.uint8)) for _ in range(2)]
    frames[0].save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "phone.jpg").n_frames == 2
    assert load_image(tmp_path / "phone.jpg").size == (20, 16)


@pytest.mark.parametrize("threshold", [2, 0, -0.5, float("nan")])
def test_a_threshold_outside_0_to_1_is_refused_not_an_empty_mask(threshold):
    import torch

    from in2.imaging import hole_batch
    from nodes import layout

    with pytest.raises(InputError, match="threshold must be in \\(0, 1\\]"):
        hole_batch(torch.ones(1, 8, 8), threshold)
    with pytest.raises(InputError, match="threshold must be in"):
        layout.node_holes(torch.ones(1, 8, 8), 8, 8, False, threshold)
