"""Output formats: which extension writes which format, and how a result is made to fit it.

``output_fit(mode, path)`` decides, before any inference, how an image of a PIL mode goes
into the format of an output path: written as it is, widened without changing a value (gray
into WebP's RGB), reduced from 16 to 8 bits where the format holds only 8 (scaled, never
clipped), written lossily (JPEG always; GIF for colour photos), or refused with the formats
that would keep it. ``Fit.note`` says what changes, for a warning; ``fit_image`` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError

__all__ = ["OUTPUT_FORMATS", "IMAGE_EXTENSIONS", "EXACT_EXTENSIONS", "Fit", "check_output_path", "image_mode",
           "output_fit", "fit_image"]

# Extension -> PIL format name: the image files read (folder listings) and written.
OUTPUT_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".tga": "TGA",
}
IMAGE_EXTENSIONS = tuple(OUTPUT_FORMATS)

# Modes each format writes and reads back unchanged (WebP lossless, with exact colours under alpha).
_KEEPS = {
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"},
    "TIFF": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK", "LAB"},
    "WEBP": {"RGB", "RGBA"},
    "BMP": {"1", "L", "P", "RGB"},
    "GIF": {"1", "L", "P"},
    "PPM": {"1", "L", "RGB", "I;16", "I", "F"},
    "TGA": {"1", "L", "LA", "P", "RGB", "RGBA"},
    "JPEG": {"L", "RGB", "CMYK"},
}
# Lossless widening when a format lacks a mode: every value stays, the mode grows.
_WIDEN = {"1": "L", "L": "RGB", "LA": "RGBA", "P": "RGB", "PA": "RGBA"}
_DEEP = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
_ALPHA = {"LA", "RGBA", "PA", "La", "RGBa"}
#: Extensions whose files keep every pixel outside the mask bit-exact (for any mode they store).
EXACT_EXTENSIONS = (".png", ".tif", ".tiff", ".webp", ".bmp", ".tga", ".ppm", ".pgm")
_EXACT_ADVICE = "use .png, .webp or .tif to keep them bit-exact"


@dataclass(frozen=True)
class Fit:
    """How an image goes into an output format: the mode written, and what changes (or None)."""

    format: str
    mode: str
    note: str | None = None


def check_output_path(path: str | PathLike) -> str:
    """PIL format name for an output path's extension; InputError for an unknown one."""
    p = Path(path)
    fmt = OUTPUT_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unknown output extension {p.suffix or '(none)'!r} for {p}: use one of {', '.join(sorted(OUTPUT_FORMATS))}"
        )
    return fmt


def image_mode(image: Image.Image) -> str:
    """The mode that decides how ``image`` is written: ``"PA"`` for a palette image with a
    transparent colour (its transparency must survive, as an alpha channel if need be)."""
    return "PA" if image.mode == "P" and "transparency" in image.info else image.mode


def _fit(mode: str, fmt: str) -> Fit | str:
    """The ``Fit``, or why the format cannot hold the mode."""
    keeps, notes, given = _KEEPS[fmt], [], mode
    if mode == "PA" and fmt in ("PNG", "GIF"):  # both store a palette's transparent colour
        return Fit(fmt, "P")
    if mode in _DEEP and mode not in keeps:
        kind = "float" if mode == "F" else "16-bit"
        if "I;16" in keeps:
            if mode == "F":
                notes.append(
                    f"{fmt} stores whole 16-bit values: this float photo is rounded to them (.tif keeps it exactly)"
                )
            mode = "I;16"
        else:
            notes.append(f"{fmt} stores 8 bits per channel: this {kind} photo is written at 8 bits, scaled "
                         "(.png or .tif keep 16 bits)")
            mode = "L"
    while mode not in keeps and mode in _WIDEN:
        mode = _WIDEN[mode]
    if mode not in keeps:
        if mode in _ALPHA:
            what = "transparency of this palette" if given == "PA" else f"alpha channel of this {given}"
            return f"{fmt} cannot store the {what} image"
        if fmt == "GIF" and mode in ("RGB", "RGBA"):
            notes.append(f"GIF holds 256 colours: this {mode} photo is reduced to them, so pixels outside the mask "
                         f"change ({_EXACT_ADVICE})")
            return Fit(fmt, mode, "; ".join(notes))
        return f"{fmt} cannot store a {given} image"
    if fmt == "JPEG":
        notes.append(f"JPEG is lossy: pixels outside the mask change slightly ({_EXACT_ADVICE})")
    return Fit(fmt, mode, "; ".join(notes) or None)


def output_fit(image: Image.Image | str, path: str | PathLike) -> Fit:
    """How ``image`` (or an image of PIL mode ``image``) is written to ``path``; an ``InputError``
    naming the extensions that would work when its format cannot hold the image."""
    mode = image_mode(image) if isinstance(image, Image.Image) else image
    fmt = check_output_path(path)
    if isinstance(image, Image.Image) and mode == "I" and "I" not in _KEEPS[fmt]:
        low, high = image.getextrema()
        if low < 0 or high > 65535:  # writing would clip them
            raise InputError(f"this 32-bit photo holds values from {low} to {high}, beyond the 0-65535 that {fmt} "
                             f"stores ({Path(path).name}): use .tif, which keeps them")
    found = _fit(mode, fmt)
    if isinstance(found, Fit):
        return found
    working = [ext for ext, name in OUTPUT_FORMATS.items() if isinstance(_fit(mode, name), Fit)]
    ways = f"use {', '.join(working)}" if working else "convert it to RGB first"
    raise InputError(f"{found} ({Path(path).name}): {ways}")


def _deep_values(image: Image.Image) -> np.ndarray:
    """A 16-bit or float gray image as float64 on the 0-65535 scale (float images are 0-1)."""
    values = np.asarray(image).astype(np.float64)
    return np.clip(values * 65535 if image.mode == "F" else values, 0, 65535)


def fit_image(image: Image.Image, fit: Fit) -> Image.Image:
    """``image`` in ``fit.mode``, converted the way ``output_fit`` promised."""
    if image.mode == fit.mode:
        return image
    if image.mode in _DEEP and fit.mode == "I;16":
        # uint16 is I;16 by its dtype; naming the mode is refused by Pillow 13
        out = Image.fromarray(np.rint(_deep_values(image)).astype(np.uint16))
    elif image.mode in _DEEP and fit.mode not in _DEEP:  # 8 bits: scaled, then widened (gray into WebP's RGB)
        out = Image.fromarray(np.rint(_deep_values(image) / 257).astype(np.uint8), "L").convert(fit.mode)
    elif image.mode == "P" and "transparency" in image.info and fit.mode in ("RGB", "RGBA"):
        out = image.convert("RGBA")
    else:
        out = image.convert(fit.mode)
    out.info.update({k: v for k, v in image.info.items() if k == "icc_profile"})
    return out
