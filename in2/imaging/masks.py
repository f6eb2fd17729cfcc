"""Masks in any kind the user has -> ``[H,W]`` bool torch tensors (True = fill), one per image.

Mask rules (one place, documented in docs/usage.md):

- 1-channel masks (bool, PIL "1"/"L"/"I;16"/"I"/"F", numpy ``HxW``/``HxWx1``, tensors):
  a pixel is filled when its value is >= half of full scale: True for bool, >= 128 for
  uint8, >= 32768 for uint16 (and PIL "I"), >= 0.5 for float (``threshold`` moves that level).
- RGB masks (white-on-black): the luminance ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601, the
  same weights as PIL's ``convert("L")``) is thresholded the same way.
- Masks with alpha (RGBA, LA, palette images with transparency): if any pixel is not
  fully opaque, the alpha channel is the mask (painted = opaque = fill, as a brush layer
  exported from an editor); if the alpha is fully opaque everywhere it carries no
  information and the luminance rule applies (a white-on-black mask saved as RGBA).

Tensor masks are thresholded in torch and stay on their own device; numpy and PIL masks
are thresholded with numpy and become torch tensors right there, at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..mask_prep import check_threshold
from .scales import (
    NUMPY_MODES,
    check_float_range,
    check_size,
    full_scale,
    luminance,
    size_text,
    split_alpha,
    to_unit_float,
)


def _threshold(values: np.ndarray, pil_mode: str | None, level: float = 0.5) -> np.ndarray:
    """1-channel values -> bool at ``level`` of full scale (half by default)."""
    if values.dtype.kind == "b":
        return values.copy()
    if values.dtype.kind == "f":
        unit = to_unit_float(values, pil_mode, "mask")
        return unit >= level
    try:
        scale = full_scale(values.dtype, pil_mode)
    except InputError:
        raise InputError(
            f"unsupported mask dtype {values.dtype}: use bool, uint8 (0/255), uint16 or float in [0, 1]"
        ) from None
    assert scale is not None
    return values.astype(np.float64) >= scale * level


def _fully_opaque(alpha: np.ndarray, pil_mode: str | None) -> bool:
    """True when the alpha channel is at full scale everywhere (it then says nothing)."""
    if alpha.dtype.kind == "b":
        return bool(alpha.all())
    if alpha.dtype.kind == "f":
        return bool((alpha >= 1.0).all())
    full = full_scale(alpha.dtype, pil_mode)
    return bool((alpha >= full).all())


def _mask_from_array(arr: np.ndarray, pil_mode: str | None = None, level: float = 0.5) -> np.ndarray:
    """``HxW``/``HxWxC`` mask array -> ``HxW`` bool by the module's rules."""
    if arr.ndim == 2:
        return _threshold(arr, pil_mode, level)
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise InputError(
            f"mask array has shape {tuple(arr.shape)}: pass HxW (one channel), HxWx1, "
            "HxWx3 (white = fill) or HxWx4 (alpha = fill)"
        )
    channels = arr.shape[2]
    if channels == 1:
        return _threshold(arr[..., 0], pil_mode, level)
    colour, alpha = split_alpha(arr)
    if alpha is not None and not _fully_opaque(alpha, pil_mode):
        return _threshold(alpha, pil_mode, level)
    if colour.shape[2] == 1:
        return _threshold(colour[..., 0], pil_mode, level)
    if colour.dtype.kind == "b":
        return _threshold(luminance(colour.astype(np.float32)), None, level)
    return luminance(to_unit_float(colour, pil_mode, "mask")) >= level


def _from_numpy(arr: np.ndarray, pil_mode: str | None, level: float) -> torch.Tensor:
    """The numpy edge: threshold there, hand on a torch bool tensor."""
    return torch.from_numpy(np.ascontiguousarray(_mask_from_array(arr, pil_mode, level)))


def _mask_from_pil(image: Image.Image, level: float = 0.5) -> torch.Tensor:
    check_size(image.height, image.width, "mask")
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    elif mode not in NUMPY_MODES:
        image = image.convert("RGBA" if mode in ("PA", "La", "RGBa") else "L")
        mode = image.mode
    return _from_numpy(np.asarray(image), mode, level)


def _masks_from_tensor(t: torch.Tensor, level: float = 0.5) -> list[torch.Tensor]:
    """``[H,W]``, ``[1,H,W]``, ``[B,H,W]`` or ``[B,1,H,W]`` -> list of ``[H,W]`` bool on ``t``'s device."""
    if t.ndim == 4:
        if t.shape[1] != 1:
            raise InputError(
                f"mask tensor has {t.shape[1]} channels (shape {tuple(t.shape)}): masks take one channel, "
                "[B,1,H,W]; for an RGB mask pass mask.mean(1, keepdim=True) or the luminance"
            )
        t = t[:, 0]
    elif t.ndim == 2:
        t = t.unsqueeze(0)
    elif t.ndim != 3:
        raise InputError(
            f"mask tensor has shape {tuple(t.shape)}: pass [H,W], [1,H,W], [B,H,W] or [B,1,H,W]"
        )
    if t.shape[0] == 0:
        raise InputError("the mask batch is empty (batch size 0): pass at least one mask")
    check_size(t.shape[1], t.shape[2], "mask")  # before any value check: min/max of nothing fails
    t = t.detach()
    if t.dtype == torch.bool:
        bools = t.clone()  # the caller's tensor is never handed back as a hole
    elif t.dtype == torch.uint8:
        bools = t.float() >= level * 255
    elif t.is_floating_point():
        check_float_range(t.float(), "mask")
        bools = t >= level
    else:
        raise InputError(f"unsupported mask tensor dtype {t.dtype}: use bool, float in [0, 1] or uint8 (0/255)")
    return list(bools.unbind(0))


def _mask_list(masks: Any, level: float = 0.5) -> list[torch.Tensor]:
    level = check_threshold(level)  # a threshold above 1 would leave every mask empty, without a word
    if isinstance(masks, (list, tuple)):
        if not masks:
            raise InputError("the mask list is empty: pass one mask per image (or one mask for all)")
        out: list[torch.Tensor] = []
        for mask in masks:
            found = _mask_list(mask, level)
            if len(found) != 1:
                raise InputError(f"a list element holds {len(found)} masks: pass one mask per list element")
            out.extend(found)
        return out
    if isinstance(masks, Image.Image):
        return [_mask_from_pil(masks, level)]
    if isinstance(masks, np.ndarray):
        if masks.ndim >= 2 and (masks.shape[0] == 0 or masks.shape[1] == 0):
            check_size(masks.shape[0], masks.shape[1], "mask")
        return [_from_numpy(masks, None, level)]
    if isinstance(masks, torch.Tensor):
        return _masks_from_tensor(masks, level)
    raise InputError(
        f"unsupported mask type {type(masks).__name__}: pass a PIL image, a numpy array, "
        "a torch tensor, a list of these, or a file path via load_mask()"
    )


def read_masks(masks: Any, sizes: Sequence[tuple[int, int]], threshold: float = 0.5) -> list[torch.Tensor]:
    """Masks for images of the given ``(H, W)`` sizes, as ``[H,W]`` bool tensors (True = fill).

    Soft masks are filled where their value is at least ``threshold`` of full scale. Tensor
    masks stay on their device; numpy and PIL masks come back on the CPU.

    One mask is applied to every image; otherwise there must be one mask per image.
    """
    found = _mask_list(masks, threshold)
    if len(found) == 1 and len(sizes) > 1:
        found = found * len(sizes)
    if len(found) != len(sizes):
        raise InputError(
            f"got {len(sizes)} image(s) but {len(found)} mask(s): pass one mask per image, or a single mask for all"
        )
    for index, (mask, (height, width)) in enumerate(zip(found, sizes, strict=True)):
        check_size(mask.shape[0], mask.shape[1], "mask")
        if tuple(mask.shape) != (height, width):
            where = f" (image {index})" if len(sizes) > 1 else ""
            raise InputError(
                f"mask is {size_text(*mask.shape)} but the image{where} is {size_text(height, width)} "
                "(width x height): the mask must have the image's exact size; resize it with "
                "nearest-neighbour sampling or export it from the same canvas"
            )
    return found


def mask_to_tensor(mask: Any, threshold: float = 0.5) -> torch.Tensor:
    """One mask as an ``[H,W]`` bool tensor (True = fill) by the module's rules."""
    found = _mask_list(mask, threshold)
    if len(found) != 1:
        raise InputError(f"expected one mask, got {len(found)}")
    check_size(found[0].shape[0], found[0].shape[1], "mask")
    return found[0]


def hole_batch(masks: Any, threshold: float = 0.5) -> torch.Tensor:
    """Masks of one size (a ``[B,H,W]`` / ``[B,1,H,W]`` tensor, a list, or one mask) as the
    ``[B,1,H,W]`` bool batch the model, compositing and metrics take (True = fill), on the
    masks' own device for tensors."""
    found = _mask_list(masks, threshold)
    for mask in found:
        check_size(mask.shape[0], mask.shape[1], "mask")
    sizes = sorted({tuple(mask.shape) for mask in found})
    if len(sizes) > 1:
        raise InputError(
            f"the masks have different sizes ({', '.join(size_text(*size) for size in sizes)}): "
            "a mask batch takes masks of one size"
        )
    return torch.stack(found)[:, None]
