"""Value scales shared by images and masks: how a dtype maps to [0, 1], size and channel checks.

Images and masks read the same pixel kinds (uint8, uint16, PIL "I", bool, float in [0, 1]),
so the rules for what "full scale" means live here once.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError

# ITU-R 601-2 luma weights: the ones PIL uses for convert("L").
LUMA = (0.299, 0.587, 0.114)

# PIL modes read through numpy (np.asarray gives the pixel values directly).
NUMPY_MODES = {"1", "L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


def size_text(height: int, width: int) -> str:
    """``WxH``, the order image editors show."""
    return f"{width}x{height}"


def check_size(height: int, width: int, what: str) -> None:
    """An image or mask without pixels is an error that says so (min/max of nothing fails later)."""
    if height <= 0 or width <= 0:
        raise InputError(
            f"{what} is empty ({size_text(height, width)} pixels): pass an image with at least one pixel"
        )


def full_scale(dtype: np.dtype, pil_mode: str | None = None) -> float | None:
    """Full-scale value of an integer dtype, None for float and bool.

    PIL mode "I" (int32) is how 16-bit grayscale files are often opened, so it is read
    on the 16-bit scale.
    """
    if dtype.kind == "b" or dtype.kind == "f":
        return None
    if dtype.kind == "u" and dtype.itemsize == 1:
        return 255.0
    if dtype.kind == "u" and dtype.itemsize == 2:
        return 65535.0
    if pil_mode == "I" and dtype.kind == "i" and dtype.itemsize == 4:
        return 65535.0
    raise InputError(
        f"unsupported image dtype {dtype}: use uint8 (0-255), uint16 (0-65535), bool, "
        "or float in [0, 1] (convert with .astype(np.uint8) or / 255.0)"
    )


def check_float_range(
    values: np.ndarray | torch.Tensor, what: str, hint: str = "divide 8-bit values by 255 first"
) -> None:
    """Float image or mask values must be finite and in [0, 1] (a small rounding slack allowed)."""
    finite = torch.isfinite(values).all() if isinstance(values, torch.Tensor) else np.isfinite(values).all()
    if not bool(finite):
        raise InputError(f"{what} contains NaN or infinite values: pass finite values in [0, 1]")
    low, high = float(values.min()), float(values.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise InputError(f"float {what} values must be in [0, 1], got [{low:g}, {high:g}]: {hint}")


def to_unit_float(values: np.ndarray, pil_mode: str | None, what: str) -> np.ndarray:
    """Values of any supported dtype as float32 in [0, 1]."""
    scale = full_scale(values.dtype, pil_mode)
    if values.dtype.kind == "b":
        return values.astype(np.float32)
    # the one new array, C-ordered whatever the view's strides: the rest works in place (a 4K
    # photo's float copy is 100 MB, and on some hosts fresh memory costs more than the arithmetic)
    out = values.astype(np.float32, order="C")
    if scale is not None:
        out /= np.float32(scale)
    else:
        check_float_range(out, what, "divide 8-bit values by 255 (or 16-bit values by 65535) first")
    return np.clip(out, 0.0, 1.0, out=out)


def from_unit_float(values: np.ndarray, dtype: np.dtype, pil_mode: str | None) -> np.ndarray:
    """float [0, 1] back to the caller's dtype (rounded for integers, thresholded for bool)."""
    if dtype.kind == "b":
        return values >= 0.5
    scale = full_scale(dtype, pil_mode)
    if scale is None:
        return values.astype(dtype)
    # one temporary, worked on in place (clip(v * s, 0, s) is clip(v, 0, 1) * s exactly for s > 0)
    scaled = np.multiply(values, scale)
    np.clip(scaled, 0.0, scale, out=scaled)
    return np.rint(scaled, out=scaled).astype(dtype)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """``HxWx3`` float -> ``HxW`` float with PIL's weights."""
    return rgb[..., 0] * LUMA[0] + rgb[..., 1] * LUMA[1] + rgb[..., 2] * LUMA[2]


def split_alpha(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``HxW``/``HxWxC`` -> colour ``HxWx{1,3}`` and alpha ``HxW`` (or None)."""
    if arr.ndim == 2:
        return arr[..., None], None
    channels = arr.shape[2]
    if channels in (1, 3):
        return arr, None
    if channels in (2, 4):
        return arr[..., :-1], arr[..., -1]
    raise InputError(
        f"image array has {channels} channels: pass HxW (gray), HxWx1, HxWx3 (RGB) or HxWx4 (RGBA)"
    )
