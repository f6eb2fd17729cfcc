"""Conversion between what users pass in (PIL images, numpy arrays, torch tensors, files)
and what the model takes (float32 ``[3,H,W]`` in [0,1], masks as bool ``[H,W]``, True = fill).

Every front end (pipeline, CLI, ComfyUI nodes, Gradio demo, trainer) converts through this
module, so one set of rules decides what a mask means and every result goes back to the
caller in exactly the kind it came in: same type, PIL mode, dtype, channel count and size.

Bit-exactness: results are written back in the caller's own value domain. Known pixels are
copied from the original object itself (never round-tripped through float), the alpha
channel is copied untouched, and only the hole pixels take the encoded prediction.

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
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, Callable, Literal, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .storage import write_atomic

__all__ = [
    "ImageBatch",
    "read_images",
    "read_masks",
    "image_to_tensor",
    "mask_to_tensor",
    "load_image",
    "load_mask",
    "decode_image",
    "encode_image",
    "save_image",
    "check_output_path",
    "OUTPUT_FORMATS",
    "IMAGE_EXTENSIONS",
]

# ITU-R 601-2 luma weights: the ones PIL uses for convert("L").
_LUMA = (0.299, 0.587, 0.114)

# PIL modes read through numpy (np.asarray gives the pixel values directly).
_NUMPY_MODES = {"1", "L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
# PIL modes read as RGB and converted back with PIL (no alpha, plain colour spaces).
_CONVERTED_MODES = {"CMYK", "YCbCr", "LAB", "HSV", "RGBX"}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".tga")

ImageLike = Any  # PIL.Image.Image | np.ndarray | torch.Tensor
PathLikeStr = str | PathLike


def _size_text(height: int, width: int) -> str:
    return f"{width}x{height}"


# ---------------------------------------------------------------------------------------
# Value scales: how a dtype maps to [0, 1]
# ---------------------------------------------------------------------------------------


def _full_scale(dtype: np.dtype, pil_mode: str | None = None) -> float | None:
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


def _check_float_range(
    values: np.ndarray | torch.Tensor, what: str, hint: str = "divide 8-bit values by 255 first"
) -> None:
    """Float image or mask values must be finite and in [0, 1] (a small rounding slack allowed)."""
    finite = torch.isfinite(values).all() if isinstance(values, torch.Tensor) else np.isfinite(values).all()
    if not bool(finite):
        raise InputError(f"{what} contains NaN or infinite values: pass finite values in [0, 1]")
    low, high = float(values.min()), float(values.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise InputError(f"float {what} values must be in [0, 1], got [{low:g}, {high:g}]: {hint}")


def _to_unit_float(values: np.ndarray, pil_mode: str | None, what: str) -> np.ndarray:
    """Values of any supported dtype as float32 in [0, 1]."""
    scale = _full_scale(values.dtype, pil_mode)
    if values.dtype.kind == "b":
        return values.astype(np.float32)
    if scale is not None:
        return np.clip(values.astype(np.float32) / np.float32(scale), 0.0, 1.0)
    out = values.astype(np.float32)
    _check_float_range(out, what, "divide 8-bit values by 255 (or 16-bit values by 65535) first")
    return np.clip(out, 0.0, 1.0)


def _from_unit_float(values: np.ndarray, dtype: np.dtype, pil_mode: str | None) -> np.ndarray:
    """float [0, 1] back to the caller's dtype (rounded for integers, thresholded for bool)."""
    if dtype.kind == "b":
        return values >= 0.5
    scale = _full_scale(dtype, pil_mode)
    if scale is None:
        return values.astype(dtype)
    return np.rint(np.clip(values, 0.0, 1.0) * scale).astype(dtype)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """``HxWx3`` float -> ``HxW`` float with PIL's weights."""
    return rgb[..., 0] * _LUMA[0] + rgb[..., 1] * _LUMA[1] + rgb[..., 2] * _LUMA[2]


# ---------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------


@dataclass
class _Item:
    """One image: its float tensor and a function that writes a result back in its own kind."""

    tensor: torch.Tensor  # [3,H,W] float32 in [0,1], on the original's device
    restore: Callable[[torch.Tensor | None, torch.Tensor], Any]

    @property
    def size(self) -> tuple[int, int]:
        return int(self.tensor.shape[-2]), int(self.tensor.shape[-1])


@dataclass
class ImageBatch:
    """Images as model tensors plus what is needed to give results back as the caller's kind.

    ``tensors[i]`` is ``[3,H,W]`` float32 in [0,1]. ``restore(results, holes)`` takes one
    ``[3,H,W]`` float result (or None for "unchanged") and one ``[H,W]`` bool hole per image
    and returns the same kind as the input: a single object, a list, or a batched tensor.
    """

    items: list[_Item]
    container: Literal["single", "list", "tensor_batch"]
    _stack: Callable[[list[Any]], Any] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def tensors(self) -> list[torch.Tensor]:
        return [item.tensor for item in self.items]

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """``(H, W)`` of every image."""
        return [item.size for item in self.items]

    def restore(self, results: Sequence[torch.Tensor | None], holes: Sequence[torch.Tensor]) -> Any:
        outs = [item.restore(res, hole) for item, res, hole in zip(self.items, results, holes, strict=True)]
        if self.container == "single":
            return outs[0]
        if self.container == "tensor_batch":
            assert self._stack is not None
            return self._stack(outs)
        return outs

    def restore_masks(self, holes: Sequence[torch.Tensor]) -> Any:
        """``[H,W]`` bool holes in the input's container: one tensor, a list, or ``[B,H,W]``."""
        if self.container == "single":
            return holes[0]
        if self.container == "tensor_batch":
            return torch.stack(list(holes))
        return list(holes)


def _check_size(height: int, width: int, what: str) -> None:
    if height <= 0 or width <= 0:
        raise InputError(
            f"{what} is empty ({_size_text(height, width)} pixels): pass an image with at least one pixel"
        )


def _split_alpha(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
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


def _array_item(arr: np.ndarray, pil_mode: str | None, finish: Callable[[np.ndarray], Any]) -> _Item:
    """Item for an ``HxW``/``HxWxC`` array; ``finish`` wraps the result array (e.g. into PIL)."""
    if arr.ndim not in (2, 3):
        raise InputError(
            f"image array has shape {tuple(arr.shape)}: pass HxW or HxWxC (C = 1, 3 or 4); "
            "for several images pass a list"
        )
    _check_size(arr.shape[0], arr.shape[1], "image")
    _full_scale(arr.dtype, pil_mode)  # rejects unsupported dtypes early
    colour, _alpha = _split_alpha(arr)
    unit = _to_unit_float(colour, pil_mode, "image")
    if unit.shape[2] == 1:
        unit = np.repeat(unit, 3, axis=2)
    tensor = torch.from_numpy(np.ascontiguousarray(unit.transpose(2, 0, 1)))

    def restore(result: torch.Tensor | None, hole: torch.Tensor) -> Any:
        if result is None or not bool(hole.any()):
            return finish(arr.copy())
        pred = result.detach().to("cpu", torch.float32).numpy().transpose(1, 2, 0)
        if colour.shape[2] == 1:
            pred = _luminance(pred)[..., None]
        encoded = _from_unit_float(pred, arr.dtype, pil_mode)
        hole_np = hole.detach().to("cpu").numpy()
        out = arr.copy()
        if arr.ndim == 2:
            out[hole_np] = encoded[..., 0][hole_np]
        else:
            n_colour = colour.shape[2]
            out[..., :n_colour][hole_np] = encoded[hole_np]
        return finish(out)

    return _Item(tensor, restore)


def _pil_item(image: Image.Image) -> _Item:
    _check_size(image.height, image.width, "image")
    mode = image.mode
    info = dict(image.info)

    def with_info(out: Image.Image) -> Image.Image:
        out.info.update(info)
        return out

    if mode in _NUMPY_MODES:
        arr = np.asarray(image)

        def finish(out_arr: np.ndarray) -> Image.Image:
            out = Image.fromarray(out_arr)
            if out.mode != mode:  # "1" from bool, "I;16*" byte orders come back as they went in
                out = out.convert(mode)
            return with_info(out)

        return _array_item(arr, mode, finish)

    if mode == "P":
        return _palette_item(image, with_info)

    if mode in _CONVERTED_MODES:
        rgb = image.convert("RGB")
        tensor = _array_item(np.asarray(rgb), "RGB", lambda a: a).tensor

        def restore(result: torch.Tensor | None, hole: torch.Tensor) -> Image.Image:
            if result is None or not bool(hole.any()):
                return image.copy()
            pred = _tensor_to_uint8_image(result).convert(mode)
            hole_img = Image.fromarray(hole.detach().to("cpu").numpy().astype(np.uint8) * 255, "L")
            return with_info(Image.composite(pred, image, hole_img))

        return _Item(tensor, restore)

    raise InputError(
        f"unsupported PIL image mode {mode!r}: convert it first, e.g. image.convert('RGB') "
        "(or 'RGBA' to keep transparency)"
    )


def _tensor_to_uint8_image(result: torch.Tensor) -> Image.Image:
    pred = result.detach().to("cpu", torch.float32).clamp(0, 1).numpy().transpose(1, 2, 0)
    return Image.fromarray(np.rint(pred * 255).astype(np.uint8), "RGB")


def _palette_item(image: Image.Image, with_info: Callable[[Image.Image], Image.Image]) -> _Item:
    """Palette images: the model sees RGB; filled pixels are mapped to the nearest colour of the
    image's own palette (no dithering), known pixels keep their palette indices."""
    tensor = _array_item(np.asarray(image.convert("RGB")), "RGB", lambda a: a).tensor
    indices = np.asarray(image)

    def restore(result: torch.Tensor | None, hole: torch.Tensor) -> Image.Image:
        if result is None or not bool(hole.any()):
            return image.copy()
        quantised = _tensor_to_uint8_image(result).quantize(palette=image, dither=Image.Dither.NONE)
        hole_np = hole.detach().to("cpu").numpy()
        out_idx = np.where(hole_np, np.asarray(quantised), indices).astype(np.uint8)
        out = Image.frombytes("P", image.size, out_idx.tobytes())
        out.putpalette(image.getpalette() or [])
        return with_info(out)

    return _Item(tensor, restore)


def _numpy_item(arr: np.ndarray) -> _Item:
    return _array_item(arr, None, lambda a: a)


def _tensor_item(t: torch.Tensor) -> _Item:
    """Item for one ``[C,H,W]`` tensor (C = 1 gray, 3 RGB, 4 RGBA)."""
    channels, height, width = t.shape
    _check_size(height, width, "image")
    if channels not in (1, 3, 4):
        raise InputError(
            f"image tensor has {channels} channels (shape {tuple(t.shape)}): pass [3,H,W] or [B,3,H,W] "
            "float in [0, 1] (channels first; [1,H,W] gray also works)"
        )
    n_colour = 1 if channels == 1 else 3
    if t.dtype == torch.uint8:
        unit = t[:n_colour].to(torch.float32) / 255.0
    elif t.is_floating_point():
        unit = t[:n_colour].to(torch.float32)
        _check_float_range(unit, "image")
        unit = unit.clamp(0, 1)
    else:
        raise InputError(f"unsupported image tensor dtype {t.dtype}: use float in [0, 1] (or uint8)")
    if n_colour == 1:
        unit = unit.expand(3, height, width)
    tensor = unit.contiguous()

    def restore(result: torch.Tensor | None, hole: torch.Tensor) -> torch.Tensor:
        if result is None or not bool(hole.any()):
            return t.clone()
        pred = result.detach().to(t.device, torch.float32)
        if n_colour == 1:
            weights = torch.tensor(_LUMA, device=t.device).view(3, 1, 1)
            pred = (pred * weights).sum(0, keepdim=True)
        if t.dtype == torch.uint8:
            pred = torch.round(pred.clamp(0, 1) * 255)
        pred = pred.to(t.dtype)
        hole_d = hole.to(t.device)
        out = t.clone()
        out[:n_colour] = torch.where(hole_d, pred, t[:n_colour])
        return out

    return _Item(tensor, restore)


def _single_item(image: ImageLike) -> _Item:
    if isinstance(image, Image.Image):
        return _pil_item(image)
    if isinstance(image, np.ndarray):
        return _numpy_item(image)
    if isinstance(image, torch.Tensor):
        if image.ndim == 3:
            return _tensor_item(image)
        raise InputError(
            f"image tensor has shape {tuple(image.shape)}: pass [3,H,W] or [B,3,H,W] (channels first)"
        )
    raise InputError(
        f"unsupported image type {type(image).__name__}: pass a PIL image, a numpy array, "
        "a torch tensor [3,H,W] / [B,3,H,W], a list of these, or a file path via load_image()"
    )


def read_images(images: ImageLike | Sequence[ImageLike]) -> ImageBatch:
    """Read one image, a list of images, or a ``[B,C,H,W]`` tensor batch.

    Accepted: PIL images (RGB, RGBA, L, LA, P, 1, I;16, I, F, CMYK, YCbCr, LAB, HSV),
    numpy ``HxW``/``HxWx{1,3,4}`` arrays (uint8, uint16, bool, float in [0,1]) and torch
    tensors ``[C,H,W]``/``[B,C,H,W]`` (C = 1, 3 or 4; float in [0,1] or uint8).
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError("the image list is empty: pass at least one image")
        items = []
        for index, image in enumerate(images):
            if isinstance(image, torch.Tensor) and image.ndim == 4:
                raise InputError(
                    f"image {index} in the list is a batched tensor {tuple(image.shape)}: "
                    "pass the batch tensor itself, or a list of [3,H,W] tensors"
                )
            items.append(_single_item(image))
        return ImageBatch(items, "list")
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        if images.shape[0] == 0:
            raise InputError("the image batch is empty (batch size 0): pass at least one image")
        items = [_tensor_item(t) for t in images]
        return ImageBatch(items, "tensor_batch", _stack=lambda outs: torch.stack(outs, 0))
    return ImageBatch([_single_item(images)], "single")


def image_to_tensor(image: ImageLike) -> torch.Tensor:
    """One image as a float32 ``[3,H,W]`` tensor in [0,1] (gray is repeated to 3 channels)."""
    batch = read_images(image)
    if len(batch) != 1:
        raise InputError(f"expected one image, got {len(batch)}")
    return batch.tensors[0]


# ---------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------


def _threshold(values: np.ndarray, pil_mode: str | None, level: float = 0.5) -> np.ndarray:
    """1-channel values -> bool at ``level`` of full scale (half by default)."""
    if values.dtype.kind == "b":
        return values.copy()
    if values.dtype.kind == "f":
        unit = _to_unit_float(values, pil_mode, "mask")
        return unit >= level
    try:
        scale = _full_scale(values.dtype, pil_mode)
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
    full = _full_scale(alpha.dtype, pil_mode)
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
    colour, alpha = _split_alpha(arr)
    if alpha is not None and not _fully_opaque(alpha, pil_mode):
        return _threshold(alpha, pil_mode, level)
    if colour.shape[2] == 1:
        return _threshold(colour[..., 0], pil_mode, level)
    if colour.dtype.kind == "b":
        return _threshold(_luminance(colour.astype(np.float32)), None, level)
    return _luminance(_to_unit_float(colour, pil_mode, "mask")) >= level


def _mask_from_pil(image: Image.Image, level: float = 0.5) -> np.ndarray:
    _check_size(image.height, image.width, "mask")
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    elif mode not in _NUMPY_MODES:
        image = image.convert("RGBA" if mode in ("PA", "La", "RGBa") else "L")
        mode = image.mode
    return _mask_from_array(np.asarray(image), mode, level)


def _masks_from_tensor(t: torch.Tensor, level: float = 0.5) -> list[np.ndarray]:
    """``[H,W]``, ``[1,H,W]``, ``[B,H,W]`` or ``[B,1,H,W]`` -> list of ``HxW`` bool."""
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
    _check_size(t.shape[1], t.shape[2], "mask")  # before any value check: min/max of nothing fails
    if t.dtype == torch.bool:
        bools = t
    elif t.dtype == torch.uint8:
        bools = t.float() >= level * 255
    elif t.is_floating_point():
        _check_float_range(t.float(), "mask")
        bools = t >= level
    else:
        raise InputError(f"unsupported mask tensor dtype {t.dtype}: use bool, float in [0, 1] or uint8 (0/255)")
    return [m.detach().to("cpu").numpy() for m in bools]


def _mask_list(masks: Any, level: float = 0.5) -> list[np.ndarray]:
    if isinstance(masks, (list, tuple)):
        if not masks:
            raise InputError("the mask list is empty: pass one mask per image (or one mask for all)")
        out: list[np.ndarray] = []
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
            _check_size(masks.shape[0], masks.shape[1], "mask")
        return [_mask_from_array(masks, None, level)]
    if isinstance(masks, torch.Tensor):
        return _masks_from_tensor(masks, level)
    raise InputError(
        f"unsupported mask type {type(masks).__name__}: pass a PIL image, a numpy array, "
        "a torch tensor, a list of these, or a file path via load_mask()"
    )


def read_masks(masks: Any, sizes: Sequence[tuple[int, int]], threshold: float = 0.5) -> list[torch.Tensor]:
    """Masks for images of the given ``(H, W)`` sizes, as ``[H,W]`` bool tensors (True = fill).

    Soft masks are filled where their value is at least ``threshold`` of full scale.

    One mask is applied to every image; otherwise there must be one mask per image.
    """
    found = _mask_list(masks, threshold)
    if len(found) == 1 and len(sizes) > 1:
        found = found * len(sizes)
    if len(found) != len(sizes):
        raise InputError(
            f"got {len(sizes)} image(s) but {len(found)} mask(s): pass one mask per image, or a single mask for all"
        )
    out = []
    for index, (mask, (height, width)) in enumerate(zip(found, sizes)):
        _check_size(mask.shape[0], mask.shape[1], "mask")
        if mask.shape != (height, width):
            where = f" (image {index})" if len(sizes) > 1 else ""
            raise InputError(
                f"mask is {_size_text(*mask.shape)} but the image{where} is {_size_text(height, width)} "
                "(width x height): the mask must have the image's exact size; resize it with "
                "nearest-neighbour sampling or export it from the same canvas"
            )
        out.append(torch.from_numpy(np.ascontiguousarray(mask)))
    return out


def mask_to_tensor(mask: Any, threshold: float = 0.5) -> torch.Tensor:
    """One mask as an ``[H,W]`` bool tensor (True = fill) by the module's rules."""
    found = _mask_list(mask, threshold)
    if len(found) != 1:
        raise InputError(f"expected one mask, got {len(found)}")
    _check_size(found[0].shape[0], found[0].shape[1], "mask")
    return torch.from_numpy(np.ascontiguousarray(found[0]))


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def _open(path: PathLikeStr, what: str) -> Image.Image:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found: {p}")
    if p.is_dir():
        raise InputError(f"{what} path is a folder, not a file: {p}")
    return _decode(p, str(p), what)


def _decode(source: Path | BinaryIO, name: str, what: str) -> Image.Image:
    """Fully decoded, upright image from a path or an open binary file; ``name`` is for messages."""
    try:
        with Image.open(source) as opened:
            opened.load()  # decode now so a truncated file fails here, not later
            image = ImageOps.exif_transpose(opened)
            if image is opened:
                image = opened.copy()
    except UnidentifiedImageError:
        raise InputError(f"{what} file is not an image PIL can read: {name} (use PNG, JPEG, WebP, TIFF or BMP)") from None
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{what} file is too large to open: {name} ({exc}); downscale or crop it first, or raise "
            "PIL.Image.MAX_IMAGE_PIXELS when calling from Python"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{what} file is corrupt or truncated: {name} ({exc}); re-export or re-download it") from None
    _check_size(image.height, image.width, f"{what} {name}")
    return image


def decode_image(data: bytes, name: str, what: str = "image") -> Image.Image:
    """``load_image`` for bytes already read (from an object store, say); ``what`` is "image" or "mask"."""
    return _decode(io.BytesIO(data), name, what)


def load_image(path: PathLikeStr) -> Image.Image:
    """Open an image file fully decoded, upright (EXIF orientation applied: phone photos).

    Multi-frame files (GIF, TIFF) give their first frame.
    """
    return _open(path, "image")


def load_mask(path: PathLikeStr) -> Image.Image:
    """Open a mask file; EXIF orientation is applied as for images so both stay aligned."""
    return _open(path, "mask")


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


def check_output_path(path: PathLikeStr) -> str:
    """PIL format name for an output path's extension; InputError for an unknown one."""
    p = Path(path)
    fmt = OUTPUT_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unknown output extension {p.suffix or '(none)'!r} for {p}: use one of {', '.join(sorted(OUTPUT_FORMATS))}"
        )
    return fmt


def encode_image(image: Image.Image, path: PathLikeStr) -> bytes:
    """The file bytes of ``image`` in the format of ``path``'s extension. PNG/TIFF/WebP are
    lossless here (WebP with ``lossless=True``); JPEG uses quality 95 and cannot keep alpha."""
    p = Path(str(path))
    fmt = check_output_path(p)
    options: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if icc and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        options["icc_profile"] = icc
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            raise InputError(
                f"JPEG cannot store a {image.mode} image ({p}): save as .png to keep it exactly"
                + (" (with its alpha channel)" if "A" in image.mode else "")
            )
        options.update(quality=95, subsampling=0)
    elif fmt == "WEBP":
        options["lossless"] = True
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt, **options)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"cannot save a {image.mode} image as {fmt} ({p}): {exc}; use .png, or .tif which stores every mode"
        ) from None
    return buffer.getvalue()


def save_image(image: Image.Image, path: PathLikeStr) -> None:
    """Save with the format given by the extension (see ``encode_image``). The file appears
    complete or not at all: a killed process never leaves a truncated image behind."""
    data = encode_image(image, path)
    write_atomic(str(path), data)
