"""Conversion between what users pass in (PIL images, numpy arrays, torch tensors, files)
and what the model takes (float32 ``[3,H,W]`` in [0,1], masks as bool ``[H,W]``, True = fill).

Every front end (pipeline, CLI, ComfyUI nodes, Gradio demo, trainer) converts through this
package, so one set of rules decides what a mask means and every result goes back to the
caller in exactly the kind it came in. One module per job:

- ``images``: images -> tensors and results back in the caller's kind (``read_images``).
- ``masks``: masks -> bool tensors by the mask rules, soft-mask threshold (``read_masks``).
- ``files``: opening and writing image files, never over an input.
- ``formats``: the extension table, and how a result fits each format (bits, alpha, loss).
- ``scales``: how each pixel dtype maps to [0, 1] (shared by images and masks).
"""

from .files import (
    check_not_an_input,
    decode_image,
    encode_image,
    is_image_name,
    load_image,
    load_mask,
    read_image_file,
    save_image,
)
from .formats import EXACT_EXTENSIONS, IMAGE_EXTENSIONS, OUTPUT_FORMATS, Fit, check_output_path, fit_image, output_fit
from .images import ImageBatch, image_to_tensor, read_images
from .masks import hole_batch, mask_to_tensor, read_masks

__all__ = [
    "ImageBatch",
    "read_images",
    "read_masks",
    "image_to_tensor",
    "mask_to_tensor",
    "hole_batch",
    "load_image",
    "load_mask",
    "decode_image",
    "encode_image",
    "save_image",
    "read_image_file",
    "check_output_path",
    "check_not_an_input",
    "is_image_name",
    "OUTPUT_FORMATS",
    "EXACT_EXTENSIONS",
    "Fit",
    "output_fit",
    "fit_image",
    "IMAGE_EXTENSIONS",
]
