"""ComfyUI layouts <-> the pipeline's, and a MASK thresholded once into holes (nodes/layout.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from in2 import IN2, IN2Config, InpaintPipeline
from in2.errors import InputError

_LAYOUT = Path(__file__).resolve().parents[2] / "nodes" / "layout.py"
_spec = importlib.util.spec_from_file_location("in2_node_layout", _LAYOUT)
layout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layout)

H, W = 24, 32


def _soft_mask(batch: int = 1) -> torch.Tensor:
    mask = torch.zeros(batch, H, W)
    mask[:, 4:12, 6:20] = 0.3
    mask[:, 12:20, 6:20] = 0.8
    return mask


@pytest.mark.parametrize("threshold", [0.25, 0.5])
def test_node_holes_are_the_core_threshold_at_the_image_size(threshold):
    mask = _soft_mask(2)
    holes = layout.node_holes(mask, H, W, resize=False, threshold=threshold)
    assert holes.dtype == torch.bool and holes.shape == (2, H, W) and holes.device == mask.device
    assert torch.equal(holes, mask >= threshold)
    assert torch.equal(layout.node_holes(mask[0], H, W, resize=False, threshold=threshold), holes[:1])


def test_an_empty_mask_of_any_size_means_nothing_to_fill():
    assert layout.node_holes(torch.zeros(64, 64), H, W, resize=False) is None  # LoadImage's default MASK
    assert layout.node_holes(torch.full((1, H, W), 0.4), H, W, resize=False, threshold=0.5) is None


def test_another_size_is_an_error_unless_resized():
    mask = torch.zeros(1, H // 2, W // 2)
    mask[:, 2:10, 3:10] = 1.0
    with pytest.raises(InputError, match=f"mask size {W // 2}x{H // 2} does not match image size {W}x{H}"):
        layout.node_holes(mask, H, W, resize=False)
    holes = layout.node_holes(mask, H, W, resize=True)
    assert holes.dtype == torch.bool and holes.shape == (1, H, W)
    assert bool(holes[0, 8, 10]) and not bool(holes[0, 0, 0])


def test_holes_fill_what_the_soft_mask_fills_in_the_pipeline():
    torch.manual_seed(0)
    pipe = InpaintPipeline(IN2(IN2Config.tiny()), device="cpu")
    image = torch.rand(1, 3, H, W)
    mask = _soft_mask()
    soft = pipe(image, mask, threshold=0.25)
    out_soft, filled_soft = soft.image, soft.mask
    hard = pipe(image, layout.node_holes(mask, H, W, False, 0.25), threshold=0.25)
    out_bool, filled_bool = hard.image, hard.mask
    assert torch.equal(filled_bool, filled_soft) and torch.equal(out_bool, out_soft)


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_comfy_images_round_trip_in_any_channel_count_and_precision(channels, dtype):
    """The node hands the core [B,C,H,W] in the IMAGE's own precision (the core keeps alpha and
    dtype: test_imaging), and gives ComfyUI back [B,H,W,C]."""
    image = torch.rand(2, H, W, channels).to(dtype)
    first = layout.channels_first(image)
    assert first.shape == (2, channels, H, W) and first.dtype == dtype
    back = layout.channels_last(first)
    assert torch.equal(back, image) and back.is_contiguous()
    assert layout.channels_first(image[0]).shape == (1, channels, H, W)
    with pytest.raises(InputError, match="channels"):
        layout.channels_first(torch.rand(1, H, W, 2))
