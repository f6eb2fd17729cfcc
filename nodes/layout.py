"""ComfyUI tensor layouts <-> the core pipeline's, plus the mask checks ComfyUI users hit most.

ComfyUI passes IMAGE as [B,H,W,C] and MASK as [B,H,W] or [H,W]; the pipeline takes channels
first ([B,C,H,W]) and the same masks, and keeps dtype, device and channel count. Mask
meaning (threshold, pairing) is the core's (`in2.imaging.masks`); `node_holes` thresholds a
MASK once, through the core, and hands the pipeline bool holes, which it takes as they are.
Nothing here changes a pixel except the opt-in mask resize.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from in2.errors import InputError


def channels_first(image: torch.Tensor) -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,C] (or one [H,W,C]) -> [B,C,H,W]."""
    if not isinstance(image, torch.Tensor):
        raise InputError(f"image must be a ComfyUI IMAGE tensor, got {type(image).__name__}")
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[-1] not in (1, 3, 4):
        raise InputError(
            f"image must be a ComfyUI IMAGE [batch, height, width, channels] with 1, 3 or 4 channels, "
            f"got shape {list(image.shape)}"
        )
    return image.movedim(-1, 1)


def channels_last(image: torch.Tensor) -> torch.Tensor:
    """[B,C,H,W] -> ComfyUI IMAGE [B,H,W,C] (contiguous, as downstream nodes expect)."""
    return image.movedim(1, -1).contiguous()


def mask_batch(mask: torch.Tensor) -> torch.Tensor:
    """ComfyUI MASK [H,W] / [B,H,W] (or [B,1,H,W]) -> [B,H,W]."""
    if not isinstance(mask, torch.Tensor):
        raise InputError(f"mask must be a ComfyUI MASK tensor, got {type(mask).__name__}")
    if mask.ndim == 2:
        return mask.unsqueeze(0)
    if mask.ndim == 4 and mask.shape[1] == 1:
        return mask[:, 0]
    if mask.ndim != 3:
        raise InputError(
            f"mask must be a ComfyUI MASK [height, width] or [batch, height, width], got shape {list(mask.shape)}"
        )
    return mask


def holes(masks: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """[B,H,W] masks as [B,H,W] bool holes (True = fill) by the core's threshold rule, on
    the masks' device."""
    from in2.imaging import hole_batch  # numpy/PIL only when a node runs

    return hole_batch(masks, threshold)[:, 0]


def fit_mask(masks: torch.Tensor, height: int, width: int, resize: bool) -> torch.Tensor:
    """The masks at the image size; another size is an error naming both unless `resize` is on."""
    mask_h, mask_w = masks.shape[-2:]
    if (mask_h, mask_w) == (height, width):
        return masks
    if not resize:
        raise InputError(
            f"mask size {mask_w}x{mask_h} does not match image size {width}x{height} (width x height): "
            "draw the mask on this image (e.g. with the Mask Editor), or turn on resize_mask to stretch it"
        )
    resized = F.interpolate(masks.unsqueeze(1).float(), size=(height, width), mode="bilinear", align_corners=False)
    return resized[:, 0].clamp(0, 1).to(masks.dtype if masks.is_floating_point() else torch.float32)


def node_holes(
    mask: torch.Tensor, height: int, width: int, resize: bool, threshold: float = 0.5
) -> torch.Tensor | None:
    """A ComfyUI MASK as [B,H,W] bool holes at the image size, thresholded once; None when
    nothing is to be filled (also LoadImage's 64x64 all-zero MASK for an image without alpha,
    whatever its size). A MASK of another size is resized first when `resize` is on (the soft
    values, then thresholded), else an error naming both sizes."""
    masks = mask_batch(mask)
    found = holes(masks, threshold)
    if not bool(found.any()):
        return None
    if tuple(masks.shape[-2:]) == (height, width):
        return found
    return holes(fit_mask(masks, height, width, resize), threshold)
