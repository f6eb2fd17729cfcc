"""Image and mask files: open them fully decoded and upright, write them whole or not at all.

``formats.OUTPUT_FORMATS`` says which extensions are images (``IMAGE_EXTENSIONS``, what
folder listings pick up, here and in the trainer) and ``formats.output_fit`` how a result
goes into each.
Writes go through ``storage.write_atomic``, so a killed process never leaves a truncated
image under the final name; commands check that an output is not one of their inputs.
"""

from __future__ import annotations

import io
import warnings
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from .. import storage
from ..errors import InputError
from .formats import OUTPUT_FORMATS, Fit, fit_image, output_fit
from .scales import check_size

PathLikeStr = str | PathLike



def is_image_name(name: str | PathLike) -> bool:
    """True when the file name's extension is one of ``IMAGE_EXTENSIONS`` (any case)."""
    return Path(name).suffix.lower() in OUTPUT_FORMATS


def _open(path: PathLikeStr, what: str) -> Image.Image:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found: {p}")
    if p.is_dir():
        raise InputError(f"{what} path is a folder, not a file: {p}")
    if not p.is_file():  # a FIFO, socket or device: opening it could block forever
        raise InputError(f"{what} path is not a regular file (a pipe or a device?): {p}; pass an image file")
    return _decode(p, str(p), what)


def _decode(source: Path | BinaryIO, name: str, what: str) -> Image.Image:
    """Fully decoded, upright image from a path or an open binary file; ``name`` is for messages."""
    try:
        with Image.open(source) as opened:
            frames = getattr(opened, "n_frames", 1)
            # Filling the first frame alone would silently drop the others. A phone's MPO JPEG is
            # one photo: its further frames are previews or depth maps, and PIL reads the photo.
            if frames > 1 and opened.format != "MPO":
                raise InputError(f"{what} file {name} holds {frames} frames (an animation or a multi-page file); "
                                 "in2 fills one still picture: save the frame you want as its own PNG")
            if opened.mode in ("RGB", "RGBA") and _sixteen_bit(opened):
                warnings.warn(
                    f"{what} {name} has 16 bits per colour channel and is read at 8 (16-bit gray stays 16-bit; "
                    "16-bit colour does not), so the result has 8 bits per channel", stacklevel=3,
                )
            opened.load()  # decode now so a truncated file fails here, not later
            image = ImageOps.exif_transpose(opened)
            if image is opened:
                image = opened.copy()
    except UnidentifiedImageError:
        raise InputError(
            f"{what} file is not an image PIL can read: {name} (use PNG, JPEG, WebP, TIFF or BMP)"
        ) from None
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{what} file is too large to open: {name} ({exc}); downscale or crop it first, or raise "
            "PIL.Image.MAX_IMAGE_PIXELS when calling from Python"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{what} file is corrupt or truncated: {name} ({exc}); re-export or re-download it") from None
    check_size(image.height, image.width, f"{what} {name}")
    return image


def _sixteen_bit(opened: Image.Image) -> bool:
    """Whether a not yet decoded RGB(A) file stores 16 bits per channel (PIL decodes it to 8)."""
    for tile in getattr(opened, "tile", None) or []:
        args = tile[3] if len(tile) > 3 else None
        raw = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else "")
        if isinstance(raw, str) and ";16" in raw:
            return True
    return False


def decode_image(data: bytes, name: str, what: str = "image") -> Image.Image:
    """``load_image`` for bytes already read (from an object store, say); ``what`` is "image" or "mask"."""
    return _decode(io.BytesIO(data), name, what)


def load_image(path: PathLikeStr) -> Image.Image:
    """Open an image file fully decoded, upright (EXIF orientation applied: phone photos).

    Multi-frame files (animated GIF or PNG, multi-page TIFF) are refused, naming the way out.
    """
    return _open(path, "image")


def load_mask(path: PathLikeStr) -> Image.Image:
    """Open a mask file; EXIF orientation is applied as for images so both stay aligned."""
    return _open(path, "mask")


def read_image_file(path: str, what: str = "image") -> Image.Image:
    """``load_image`` / ``load_mask`` for a local path or an fsspec URL (``s3://...``)."""
    if not storage.is_url(path):
        return _open(path, what)
    try:
        data = storage.read_bytes(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from None
    return decode_image(data, path, what)


def check_not_an_input(output: PathLikeStr, inputs: dict[str, PathLikeStr], way_out: str = "pass another -o") -> None:
    """No command writes over one of its inputs: a photo passed as the output would be lost."""
    for what, path in inputs.items():
        if storage.same_path(str(output), str(path)):
            raise InputError(f"the output {output} is the {what} {path}: writing it would destroy the input; {way_out}")


def encode_image(image: Image.Image, path: PathLikeStr, fit: Fit | None = None) -> bytes:
    """The file bytes of ``image`` in the format of ``path``'s extension, converted as
    ``formats.output_fit`` says (``fit``, when the caller already asked it before inference).
    PNG, TIFF, WebP (lossless, exact colours under alpha), BMP, PPM and TGA keep every value
    they store; JPEG uses quality 95."""
    p = Path(str(path))
    fit = fit or output_fit(image, p)
    image = fit_image(image, fit)
    fmt = fit.format
    options: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if icc and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        options["icc_profile"] = icc
    if fmt == "JPEG":
        options.update(quality=95, subsampling=0)
    elif fmt == "WEBP":
        options.update(lossless=True, exact=True)
    elif fmt == "PNG":
        # zlib level 1: a 3840x2160 photo encodes in 0.67 s instead of 2.04 s (level 6, PIL's
        # default) on the 2-core build machine, for a 24% larger file; the pixels are the same
        options["compress_level"] = 1
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt, **options)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"cannot save a {image.mode} image as {fmt} ({p}): {exc}; use .png, or .tif which stores every mode"
        ) from None
    return buffer.getvalue()


def save_image(image: Image.Image, path: PathLikeStr, fit: Fit | None = None) -> None:
    """Save with the format given by the extension (see ``encode_image``), to a local path or
    an fsspec URL. The file appears complete or not at all: a killed process never leaves a
    truncated image behind."""
    data = encode_image(image, path, fit)
    storage.write_atomic(str(path), data)
