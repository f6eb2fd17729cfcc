"""Images in any kind the user has -> float32 ``[3,H,W]`` tensors in [0, 1], and results back.

Every result goes back to the caller in exactly the kind it came in: same type, PIL mode,
dtype, channel count and size. Bit-exactness: results are written back in the caller's own
value domain. Known pixels are copied from the original object itself (never round-tripped
through float), the alpha channel is copied untouched, and only the hole pixels take the
encoded prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from .scales import (
    LUMA,
    NUMPY_MODES,
    check_float_range,
    check_size,
    from_unit_float,
    full_scale,
    luminance,
    split_alpha,
    to_unit_float,
)

# PIL modes read as RGB and converted back with PIL (no alpha, plain colour spaces).
_CONVERTED_MODES = {"CMYK", "YCbCr", "LAB", "HSV", "RGBX"}

ImageLike = Any  # PIL.Image.Image | np.ndarray | torch.Tensor




@dataclass
class _Item:
    """One image: its float tensor, a copy of the original, and a function that writes a
    prediction into the hole in the original's own kind."""

    tensor: torch.Tensor  # [3,H,W] float32 in [0,1], on the original's device
    copy: Callable[[], Any]
    fill: Callable[[torch.Tensor, torch.Tensor], Any]  # (prediction [3,H,W], hole [H,W] bool)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.tensor.shape[-2]), int(self.tensor.shape[-1])

    def restore(self, result: torch.Tensor | None, hole: torch.Tensor) -> Any:
        """The result in the original's kind; a copy of the original when nothing was filled."""
        if result is None or not bool(hole.any()):
            return self.copy()
        return self.fill(result, hole)


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


def _array_item(arr: np.ndarray, pil_mode: str | None, finish: Callable[[np.ndarray], Any]) -> _Item:
    """Item for an ``HxW``/``HxWxC`` array; ``finish`` wraps the result array (e.g. into PIL)."""
    if arr.ndim not in (2, 3):
        raise InputError(
            f"image array has shape {tuple(arr.shape)}: pass HxW or HxWxC (C = 1, 3 or 4); "
            "for several images pass a list"
        )
    check_size(arr.shape[0], arr.shape[1], "image")
    full_scale(arr.dtype, pil_mode)  # rejects unsupported dtypes early
    colour, _alpha = split_alpha(arr)
    unit = to_unit_float(np.moveaxis(colour, 2, 0), pil_mode, "image")  # [C, H, W] in one pass
    if unit.shape[0] == 1:
        unit = np.repeat(unit, 3, axis=0)
    tensor = torch.from_numpy(unit)

    def fill(result: torch.Tensor, hole: torch.Tensor) -> Any:
        hole_np = hole.detach().to("cpu").numpy()
        # only the hole's pixels are converted: a small hole in a 4K photo costs what it holds
        pred = result.detach().to("cpu", torch.float32).numpy().transpose(1, 2, 0)[hole_np]  # [N, 3]
        if colour.shape[2] == 1:
            pred = luminance(pred)[..., None]
        encoded = from_unit_float(pred, arr.dtype, pil_mode)
        out = arr.copy()
        if arr.ndim == 2:
            out[hole_np] = encoded[..., 0]
        else:
            n_colour = colour.shape[2]
            out[..., :n_colour][hole_np] = encoded
        return finish(out)

    return _Item(tensor, lambda: finish(arr.copy()), fill)


def _pil_item(image: Image.Image) -> _Item:
    check_size(image.height, image.width, "image")
    mode = image.mode
    info = dict(image.info)

    def with_info(out: Image.Image) -> Image.Image:
        out.info.update(info)
        return out

    if mode in NUMPY_MODES:
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

        def fill(result: torch.Tensor, hole: torch.Tensor) -> Image.Image:
            pred = _tensor_to_uint8_image(result).convert(mode)
            hole_img = Image.fromarray(hole.detach().to("cpu").numpy().astype(np.uint8) * 255, "L")
            return with_info(Image.composite(pred, image, hole_img))

        return _Item(tensor, image.copy, fill)

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

    def fill(result: torch.Tensor, hole: torch.Tensor) -> Image.Image:
        quantised = _tensor_to_uint8_image(result).quantize(palette=image, dither=Image.Dither.NONE)
        hole_np = hole.detach().to("cpu").numpy()
        out_idx = np.where(hole_np, np.asarray(quantised), indices).astype(np.uint8)
        out = Image.frombytes("P", image.size, out_idx.tobytes())
        out.putpalette(image.getpalette() or [])
        return with_info(out)

    return _Item(tensor, image.copy, fill)


def _numpy_item(arr: np.ndarray) -> _Item:
    return _array_item(arr, None, lambda a: a)


def _tensor_item(t: torch.Tensor) -> _Item:
    """Item for one ``[C,H,W]`` tensor (C = 1 gray, 3 RGB, 4 RGBA)."""
    channels, height, width = t.shape
    check_size(height, width, "image")
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
        check_float_range(unit, "image")
        unit = unit.clamp(0, 1)
    else:
        raise InputError(f"unsupported image tensor dtype {t.dtype}: use float in [0, 1] (or uint8)")
    if n_colour == 1:
        unit = unit.expand(3, height, width)
    tensor = unit.contiguous()

    def fill(result: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        pred = result.detach().to(t.device, torch.float32)
        if n_colour == 1:
            weights = torch.tensor(LUMA, device=t.device).view(3, 1, 1)
            pred = (pred * weights).sum(0, keepdim=True)
        if t.dtype == torch.uint8:
            pred = torch.round(pred.clamp(0, 1) * 255)
        pred = pred.to(t.dtype)
        hole_d = hole.to(t.device)
        out = t.clone()
        out[:n_colour] = torch.where(hole_d, pred, t[:n_colour])
        return out

    return _Item(tensor, t.clone, fill)


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
