"""What `IN2_Inpaint` does, without ComfyUI: IN2_MODEL + IMAGE + MASK -> IMAGE + MASK.

It only moves channels between ComfyUI's layout and the pipeline's and calls the core
pipeline, which owns the mask rules and preparation (threshold, grow, fill), the crop per
hole region, batching, compositing (pixels outside the mask stay bit-exact, in the input's
own dtype), chunking and the memory limit. The node schema lives in `schema.py`.
"""

from __future__ import annotations

import logging

import torch

from in2.errors import InputError
from in2.options import BLENDS, CROPS, MODES

from . import comfy_bridge, layout
from .core import missing_dependency
from .loader import IN2Model

log = logging.getLogger("in2.comfyui")


def cpu_size_hint() -> str:
    """Tooltip text: how large an image fits on this machine's CPU now (the core's budget)."""
    try:
        from in2 import runtime

        limit = runtime.max_pixels(torch.device("cpu"))
    except Exception:  # noqa: BLE001 - informative only: never let it break ComfyUI's node list
        return ""
    if not limit:
        return ""
    side = int(limit ** 0.5)
    return (f" On this machine's CPU about {limit / 1e6:.1f} MP (e.g. {side}x{side}) fits per run at native "
            "resolution; crop 'auto' or 'on' handles larger photos with small holes.")


#: What a workflow saved before the V3 nodes holds in the widget slots of crop and context
#: (its crop_to_mask and crop_padding); the frontend fills widgets by position.
_SAVED_BEFORE_V3 = (
    "this IN2 Inpaint node comes from a workflow saved with an older IN2 (its crop_to_mask and crop_padding "
    "widgets are gone, and the saved values landed in crop = {crop!r} and context = {context!r}): set crop "
    "(auto, off or on), context (1 to 16), grow, fill_holes and threshold again, then save the workflow"
)


def check_widgets(crop: object = CROPS[0], context: object = 3.0) -> bool | str:
    """True, or the message for ComfyUI when the crop and context widgets hold values these
    nodes never offer (a workflow saved before V3, whose values moved one widget over)."""
    try:
        in_range = 1.0 <= float(context) <= 16.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        in_range = False
    if crop in CROPS and in_range and not isinstance(context, bool):
        return True
    return _SAVED_BEFORE_V3.format(crop=crop, context=context)


def run_inpaint(model: IN2Model, image: torch.Tensor, mask: torch.Tensor, mode: str = MODES[0],
                blend: str = BLENDS[0], resize_mask: bool = False, crop: str = CROPS[0], context: float | None = None,
                grow: int = 0, fill_holes: bool = False, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """(inpainted IMAGE [B,H,W,C], filled MASK [B,H,W] float32): the mask after preparation."""
    try:
        return _run(model, image, mask, mode, blend, resize_mask, crop, context, grow, fill_holes, threshold)
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc) from exc


def _run(model: IN2Model, image: torch.Tensor, mask: torch.Tensor, mode: str, blend: str, resize_mask: bool,
         crop: str, context: float | None, grow: int, fill_holes: bool,
         threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(model, IN2Model):
        raise InputError(f"model must come from the IN2 Load Model node, got {type(model).__name__}")
    pixels = layout.channels_first(image)
    batch, _, height, width = pixels.shape
    masks = layout.node_holes(mask, height, width, resize_mask, threshold)  # thresholded once, here
    if masks is None:
        # Also LoadImage's 64x64 all-zero MASK for an image without alpha: nothing to fill.
        log.info("IN2 Inpaint: the mask is empty, returning the image unchanged")
        return image, torch.zeros(batch, height, width, dtype=torch.float32, device=image.device)
    model.prepare()
    options = {} if context is None else {"context": context}
    result = model.pipeline(
        pixels, masks, mode=mode, blend=blend, crop=crop, grow=grow, fill_holes=fill_holes, threshold=threshold,
        progress=comfy_bridge.RunProgress().report, **options,
    )
    out, filled = result.image, result.mask
    filled = filled.float() if filled.ndim == 3 else filled.float()[None]
    return layout.channels_last(out), filled.expand(batch, -1, -1).to(image.device).contiguous()
