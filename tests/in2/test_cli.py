"""The ``in2`` command line: single files, folders, weights and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import in2.loader as weights
from in2.cli import main

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "examples" / "grace_hopper.jpg"


def _command() -> list[str]:
    """The installed console script when present, else the module (same entry point)."""
    script = Path(sys.executable).with_name("in2")
    return [str(script)] if script.exists() else [sys.executable, "-m", "in2"]


def _brush_mask(width: int, height: int, seed: int = 0) -> Image.Image:
    """Thick free-form strokes covering 20-30% of the image."""
    rng = np.random.default_rng(seed)
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    while np.asarray(mask).mean() / 255 < 0.2:
        points = [tuple(int(v) for v in rng.uniform((0, 0), (width, height))) for _ in range(4)]
        draw.line(points, fill=255, width=int(rng.integers(25, 45)), joint="curve")
    area = np.asarray(mask).mean() / 255
    assert 0.2 <= area <= 0.3, area
    return mask


def _photo(tmp_path: Path, size: tuple[int, int] = (601, 517)) -> tuple[Path, Path, np.ndarray]:
    image = Image.open(PHOTO).convert("RGB").resize(size, Image.Resampling.LANCZOS)
    image_path, mask_path = tmp_path / "photo.png", tmp_path / "photo_mask.png"
    image.save(image_path)
    mask = _brush_mask(*size)
    mask.save(mask_path)
    return image_path, mask_path, np.asarray(mask) >= 128


@pytest.mark.slow  # a fresh interpreter per command
def test_photo_601x517_comes_back_same_size_with_known_pixels_identical(tmp_path, tiny_weights):
    image_path, mask_path, hole = _photo(tmp_path)
    out = tmp_path / "out.png"
    done = subprocess.run(
        [
            *_command(),
            "inpaint",
            str(image_path),
            str(mask_path),
            "-o",
            str(out),
            "--weights",
            str(tiny_weights),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and str(tiny_weights) in done.stderr
    before, after = np.asarray(Image.open(image_path)), np.asarray(Image.open(out))
    assert Image.open(out).size == (601, 517) and after.shape == before.shape
    assert np.array_equal(before[~hole], after[~hole])
    assert not np.array_equal(before[hole], after[hole])


def test_folders_with_a_bad_file_and_unmatched_names(tmp_path, tiny_weights, capsys):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    hole = np.zeros((24, 32), np.uint8)
    hole[5:15, 8:20] = 255
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(images / f"{name}.jpg")
        Image.fromarray(hole).save(masks / f"{name}.png")
    (images / "broken.png").write_bytes(b"not a png")
    Image.fromarray(hole).save(masks / "broken.png")
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(images / "lonely.png")
    Image.fromarray(hole).save(masks / "orphan.png")

    code = main(["inpaint", str(images), str(masks), "-o", str(out), "--weights", str(tiny_weights), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == [".in2-batch", "a.png", "b.png"]  # results + run logs
    assert "error: broken.png" in err and "not an image" in err
    assert "no mask for lonely.png" in err and "mask orphan.png has no image" in err
    assert "1 of 3 image(s) failed" in err
    result = np.asarray(Image.open(out / "a.png"))
    source = np.asarray(Image.open(images / "a.jpg"))
    assert np.array_equal(result[hole < 128], source[hole < 128])


def test_folder_with_one_mask_for_all(tmp_path, tiny_weights, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("x", "y"):
        Image.new("RGB", (20, 18), (200, 10, 10)).save(images / f"{name}.png")
    mask = tmp_path / "mask.png"
    Image.new("L", (20, 18), 255).save(mask)
    assert (
        main(["inpaint", str(images), str(mask), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "-q"])
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["x.png", "y.png"]


def test_no_weights_is_one_clear_line_with_exit_code_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(weights, "DEMO_WEIGHTS_DIR", tmp_path / "demo_weights")
    image_path = tmp_path / "i.png"
    Image.new("RGB", (8, 8)).save(image_path)
    code = main(["inpaint", str(image_path), str(image_path), "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("in2: error: ") and "weights" in err
    assert "Traceback" not in err


def test_input_errors_exit_2_without_traceback(tmp_path, tiny_weights, capsys):
    image_path, mask_path = tmp_path / "i.png", tmp_path / "m.png"
    Image.new("RGB", (8, 8)).save(image_path)
    Image.new("L", (9, 8)).save(mask_path)
    common = ["--weights", str(tiny_weights), "-q"]
    assert main(["inpaint", str(image_path), str(mask_path), "-o", str(tmp_path / "o.png"), *common]) == 2
    assert "mask is 9x8 but the image is 8x8" in capsys.readouterr().err
    assert main(["inpaint", str(tmp_path / "nope.png"), str(mask_path), "-o", str(tmp_path / "o.png"), *common]) == 2
    assert "image not found" in capsys.readouterr().err
    assert main(["inpaint", str(image_path), str(image_path), "-o", str(tmp_path / "o.xyz"), *common]) == 2
    assert "unknown output extension" in capsys.readouterr().err
    assert main(["inpaint", str(tmp_path), str(mask_path), "-o", str(tmp_path / "all.png"), *common]) == 2
    assert "OUT must be a folder" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter per command
def test_module_help_runs():
    done = subprocess.run([sys.executable, "-m", "in2", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "inpaint" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "in2", "inpaint", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for option in ("--weights", "--revision", "--mode", "--blend", "--device", "--dtype"):
        assert option in done.stdout


def _two_small_holes(width: int, height: int) -> np.ndarray:
    hole = np.zeros((height, width), bool)
    hole[500:540, 700:760] = True  # near an eye
    hole[1100:1130, 1600:1700] = True  # far from the first
    return hole


@pytest.mark.parametrize("crop", ["on", "auto"])
def test_2400x1600_photo_with_two_small_holes_crops_and_keeps_every_other_pixel(tmp_path, tiny_weights, crop, capsys):
    size = (2400, 1600)
    image_path, mask_path = tmp_path / "big.png", tmp_path / "big_mask.png"
    Image.open(PHOTO).convert("RGB").resize(size, Image.Resampling.LANCZOS).save(image_path)
    hole = _two_small_holes(*size)
    Image.fromarray(hole.astype(np.uint8) * 255).save(mask_path)
    out = tmp_path / "out.png"
    code = main(["inpaint", str(image_path), str(mask_path), "-o", str(out), "--weights", str(tiny_weights),
                 "--device", "cpu", "--crop", crop, "--grow", "3"])
    assert code == 0, capsys.readouterr().err
    before, after = np.asarray(Image.open(image_path)), np.asarray(Image.open(out))
    assert after.shape == before.shape
    grown = np.zeros_like(hole)
    grown[497:543, 697:763] = True
    grown[1097:1133, 1597:1703] = True
    assert np.array_equal(before[~grown], after[~grown])  # corners of the grown boxes are cut: a superset
    changed = (before != after).any(axis=2)
    assert changed[hole].mean() > 0.9 and changed[grown & ~hole].any()


def test_bad_crop_options_are_one_line_errors(tmp_path, tiny_weights, capsys):
    image_path, mask_path, _ = _photo(tmp_path, (300, 200))
    code = main(["inpaint", str(image_path), str(mask_path), "-o", str(tmp_path / "o.png"), "--weights",
                 str(tiny_weights), "--device", "cpu", "--context", "0.2"])
    err = capsys.readouterr().err
    assert code == 2 and "context must be a factor of at least 1" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_running_out_of_memory_is_one_line_with_the_ways_out(tmp_path, tiny_weights, monkeypatch, capsys):
    import torch

    from in2.options import memory_advice
    from in2.pipeline import InpaintPipeline

    def exhausted(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(InpaintPipeline, "__call__", exhausted)
    image_path, mask_path = tmp_path / "i.png", tmp_path / "m.png"
    Image.new("RGB", (8, 8)).save(image_path)
    Image.new("L", (8, 8), 255).save(mask_path)
    out = tmp_path / "o.png"
    code = main(["inpaint", str(image_path), str(mask_path), "-o", str(out), "--weights", str(tiny_weights), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert str(image_path) in err and memory_advice() in err
    assert not out.exists()


def _small_pair(folder: Path, name: str = "face") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    image, mask = folder / f"{name}.jpg", folder.parent / f"{name}_mask.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(image)
    hole = np.zeros((16, 16), np.uint8)
    hole[4:10, 4:10] = 255
    Image.fromarray(hole).save(mask)
    return image, mask


def test_an_existing_output_is_never_replaced_unless_asked(tmp_path, tiny_weights, capsys):
    image, mask = _small_pair(tmp_path / "d")
    other = tmp_path / "d" / "face.png"  # a different photo that happens to share the name
    other.write_bytes(b"another photo")
    common = ["--weights", str(tiny_weights), "--device", "cpu", "-q"]
    for target in (tmp_path / "d", other):
        assert main(["inpaint", str(image), str(mask), "-o", str(target), *common]) == 2
        err = capsys.readouterr().err
        assert f"{other} already exists and is left as it is" in err and "--overwrite" in err
    assert other.read_bytes() == b"another photo"
    assert main(["inpaint", str(image), str(mask), "-o", str(tmp_path / "d"), "--overwrite", *common]) == 0
    assert Image.open(other).size == (16, 16)


def test_an_unwritable_output_is_one_line_and_leaves_nothing(tmp_path, tiny_weights, monkeypatch, capsys):
    import os

    image, mask = _small_pair(tmp_path / "d")
    common = ["--weights", str(tiny_weights), "--device", "cpu", "-q"]

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    def full(fd):
        raise OSError(28, "No space left on device")

    for patch, why in ((("replace", denied)), "permission denied"), ((("fsync", full)), "the disk is full"):
        with monkeypatch.context() as m:
            m.setattr(os, *patch)
            assert main(["inpaint", str(image), str(mask), "-o", str(tmp_path / "out.png"), *common]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"in2: error: cannot write {tmp_path / 'out.png'}: {why}") and err.count("\n") == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "face_mask.png"]


def _gray16(path: Path) -> np.ndarray:
    values = (np.arange(16 * 16).reshape(16, 16) * 251 % 65536).astype(np.uint16)
    Image.fromarray(values).save(path)
    return values


def test_a_16_bit_gray_photo_into_an_8_bit_format_is_scaled_not_white(tmp_path, tiny_weights, capsys):
    values = _gray16(tmp_path / "deep.png")
    _, mask = _small_pair(tmp_path / "d")
    hole = np.asarray(Image.open(mask)) >= 128
    for ext in (".webp", ".gif"):
        out = tmp_path / f"out{ext}"
        args = ["inpaint", str(tmp_path / "deep.png"), str(mask), "-o", str(out), "--weights", str(tiny_weights)]
        assert main(args) == 0
        assert f"in2: warning: {ext[1:].upper()} stores 8 bits per channel" in capsys.readouterr().err
        written = np.asarray(Image.open(out).convert("L"))
        assert np.array_equal(written[~hole], np.rint(values / 257).astype(np.uint8)[~hole])


def test_lossy_outputs_are_announced_and_exact_ones_are_not(tmp_path, tiny_weights, capsys):
    image, mask = _small_pair(tmp_path / "d")
    common = ["--weights", str(tiny_weights)]
    assert main(["inpaint", str(image), str(mask), "-o", str(tmp_path / "o.jpg"), *common]) == 0
    assert "in2: warning: JPEG is lossy: pixels outside the mask change slightly" in capsys.readouterr().err
    assert main(["inpaint", str(image), str(mask), "-o", str(tmp_path / "o.gif"), *common]) == 0
    assert "in2: warning: GIF holds 256 colours" in capsys.readouterr().err
    assert main(["inpaint", str(image), str(mask), "-o", str(tmp_path / "o.png"), *common]) == 0
    assert "warning" not in capsys.readouterr().err


def test_quiet_prints_no_warnings(tmp_path, tiny_weights, capsys):
    image, mask = _small_pair(tmp_path / "d")
    assert main(["inpaint", str(image), str(mask), "-o", str(tmp_path / "o.jpg"), "--weights", str(tiny_weights),
                 "--grow", "-10", "-q"]) == 0
    assert capsys.readouterr().err == ""  # neither the lossy format nor the empty mask is said


def test_help_prints_percent_signs_once():
    for command in (["inpaint", "--help"], ["batch", "--help"]):
        done = subprocess.run([*_command(), *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "%%" not in done.stdout and "% of the image's shorter side" in done.stdout
        assert command[0] != "inpaint" or "(>= 50% gray;" in done.stdout


def test_a_format_that_cannot_hold_the_photo_is_refused_before_inference(tmp_path, tiny_weights, monkeypatch, capsys):
    from in2.pipeline import InpaintPipeline

    Image.new("CMYK", (16, 16), (10, 20, 30, 40)).save(tmp_path / "print.jpg")
    _, mask = _small_pair(tmp_path / "d")

    def no_inference(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(InpaintPipeline, "from_pretrained", no_inference)
    assert main(["inpaint", str(tmp_path / "print.jpg"), str(mask), "-o", str(tmp_path / "o.png"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "PNG cannot store a CMYK image (o.png): use .jpg, .jpeg, .tif, .tiff" in err
    assert not (tmp_path / "o.png").exists()


def test_a_mask_left_empty_by_grow_is_said(tmp_path, tiny_weights, capsys):
    image, mask = _small_pair(tmp_path / "d")
    assert main(["inpaint", str(image), str(mask), "-o", str(tmp_path / "o.png"), "--grow", "-10",
                 "--weights", str(tiny_weights)]) == 0
    assert "in2: warning: nothing to fill: the mask is empty after grow='-10'" in capsys.readouterr().err
