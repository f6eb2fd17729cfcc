"""`IN2_Inpaint`: IN2_MODEL + IMAGE + MASK -> IMAGE at exactly the input size.

The node only moves channels between ComfyUI's layout and the pipeline's and calls the core
pipeline, which owns the mask rules, batching, compositing (pixels outside the mask stay
bit-exact, in the input's own dtype), chunking and the memory limit. Optional: crop a box
around the mask first, so a very large photo with a small hole fits in memory.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from in2.errors import InputError

from . import comfy_bridge, layout
from .core import missing_dependency
from .loader import CATEGORY, IN2Model

log = logging.getLogger("in2.comfyui")

MODES = ["native", "resize"]
BLENDS = ["none", "seamless"]
FILL_RULE = "values >= 0.5 are filled, lower values are kept (soft masks are thresholded there)"


def cpu_size_hint() -> str:
    """Tooltip text: how large an image fits on this machine's CPU now (the core's budget)."""
    try:
        from in2 import runtime

        limit = runtime.max_pixels(torch.device("cpu"))
    except Exception:  # informative only: never let it break ComfyUI's node list
        return ""
    if not limit:
        return ""
    side = int(limit ** 0.5)
    return (f" On this machine's CPU about {limit / 1e6:.1f} MP (e.g. {side}x{side}) fits per run at native "
            "resolution; for larger photos use mode 'resize' or crop_to_mask.")


class IN2Inpaint:
    """Fills the masked area of each image with an IN2 model, at the image's own resolution."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    FUNCTION = "inpaint"
    DESCRIPTION = (
        "Fills the masked area (painted in the Mask Editor, or any MASK) and keeps every other pixel "
        "unchanged. The output has exactly the input size; an empty mask returns the image as is."
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("IN2_MODEL", {"tooltip": "From IN2 Load Model."}),
                "image": ("IMAGE", {"tooltip": "One image or a batch, any size." + cpu_size_hint()}),
                "mask": ("MASK", {
                    "tooltip": f"Area to fill: {FILL_RULE}. One mask for the whole batch, or one per image, "
                               "at the image size.",
                }),
                "mode": (MODES, {
                    "default": "native",
                    "tooltip": "native: the model runs at the image's own resolution (sharpest). resize: it "
                               "runs at its training size and the fill is scaled back (less memory on big images).",
                }),
                "blend": (BLENDS, {
                    "default": "none",
                    "tooltip": "none: the fill is pasted as is. seamless: colour-matched fill with a feathered "
                               "edge inside the hole so no seam shows. Pixels outside the mask never change.",
                }),
                "resize_mask": ("BOOLEAN", {
                    "default": False,
                    "tooltip": "Stretch a mask of another size to the image instead of stopping with an error.",
                }),
                "crop_to_mask": ("BOOLEAN", {
                    "default": False,
                    "tooltip": "Inpaint only a box around the masked area (plus crop_padding) and put it back: "
                               "for very large photos with a small hole.",
                }),
                "crop_padding": ("INT", {
                    "default": 128, "min": 0, "max": 8192, "step": 8,
                    "tooltip": "Pixels of context kept around the masked area when crop_to_mask is on.",
                }),
            }
        }

    def inpaint(self, model: IN2Model, image: torch.Tensor, mask: torch.Tensor, mode: str = "native",
                blend: str = "none", resize_mask: bool = False, crop_to_mask: bool = False,
                crop_padding: int = 128) -> tuple[torch.Tensor]:
        try:
            return self._inpaint(model, image, mask, mode, blend, resize_mask, crop_to_mask, crop_padding)
        except ModuleNotFoundError as exc:
            raise missing_dependency(exc) from exc

    def _inpaint(self, model: IN2Model, image: torch.Tensor, mask: torch.Tensor, mode: str, blend: str,
                 resize_mask: bool, crop_to_mask: bool, crop_padding: int) -> tuple[torch.Tensor]:
        if not isinstance(model, IN2Model):
            raise InputError(f"model must come from the IN2 Load Model node, got {type(model).__name__}")
        pixels = layout.channels_first(image)
        masks = layout.mask_batch(mask)
        if not any(bool(h.any()) for h in layout.holes(masks)):
            # Also LoadImage's 64x64 all-zero MASK for an image without alpha: nothing to fill.
            log.info("IN2 Inpaint: the mask is empty, returning the image unchanged")
            return (image,)
        masks = layout.fit_mask(masks, pixels.shape[-2], pixels.shape[-1], resize_mask)
        model.prepare()
        if crop_to_mask:
            out = self._run_cropped(model, pixels, masks, mode, blend, max(0, int(crop_padding)))
        else:
            out = self._run(model, pixels, masks, mode, blend, comfy_bridge.RunProgress(1).callback(0), False)
        return (layout.channels_last(out),)

    @staticmethod
    def _run(model: IN2Model, pixels: torch.Tensor, masks: torch.Tensor, mode: str, blend: str,
             progress: Any, cropped: bool) -> torch.Tensor:
        pipeline = model.pipeline
        try:
            return pipeline(pixels, masks, mode=mode, blend=blend, progress=progress)
        except InputError as exc:
            limit = pipeline.max_pixels
            if not cropped and limit is not None and pixels.shape[-2] * pixels.shape[-1] > limit:
                raise InputError(f"{exc} In ComfyUI: turn on crop_to_mask to inpaint only the area around the mask.") from exc
            raise

    def _run_cropped(self, model: IN2Model, pixels: torch.Tensor, masks: torch.Tensor, mode: str, blend: str,
                     padding: int) -> torch.Tensor:
        """Inpaint a box around each image's mask and paste the box back into a copy."""
        if masks.shape[0] not in (1, pixels.shape[0]):
            # let the core word the pairing error, exactly as without cropping
            return self._run(model, pixels, masks, mode, blend, None, True)
        holes = layout.holes(masks)
        if len(holes) == 1:
            holes = holes * pixels.shape[0]
            masks = masks.expand(pixels.shape[0], -1, -1)
        todo = [index for index, hole in enumerate(holes) if bool(hole.any())]
        progress = comfy_bridge.RunProgress(len(todo))
        out = pixels.clone()
        for call, index in enumerate(todo):
            top, bottom, left, right = layout.crop_box(holes[index], padding)
            box = (slice(None), slice(top, bottom), slice(left, right))
            filled = self._run(model, pixels[index][box][None], masks[index][box[1:]][None], mode, blend,
                               progress.callback(call), True)
            out[index][box] = filled[0]
        return out
