"""Mask reading (``in2.imaging.masks``): every mask kind becomes bool holes by one set of rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from in2.errors import InputError
from in2.imaging import hole_batch, mask_to_tensor, read_masks

H, W = 13, 17
HOLE = np.zeros((H, W), bool)
HOLE[3:9, 4:12] = True


def _mask_of(mask) -> np.ndarray:
    return mask_to_tensor(mask).numpy()


def test_mask_thresholds_at_half_scale():
    assert _mask_of(np.array([[127, 128]], np.uint8)).tolist() == [[False, True]]
    assert _mask_of(np.array([[32767, 32768]], np.uint16)).tolist() == [[False, True]]
    assert _mask_of(np.array([[0.49, 0.5]], np.float32)).tolist() == [[False, True]]
    assert _mask_of(np.array([[False, True]])).tolist() == [[False, True]]
    assert _mask_of(torch.tensor([[0.2, 0.7]])).tolist() == [[False, True]]
    assert _mask_of(Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")).tolist() == [[False, True]]


def test_threshold_moves_the_soft_mask_level():
    soft = np.linspace(0, 1, 11, dtype=np.float32).reshape(1, 11)
    assert int(read_masks(soft, [(1, 11)])[0].sum()) == 6  # >= 0.5
    assert int(read_masks(soft, [(1, 11)], threshold=0.75)[0].sum()) == 3
    assert int(read_masks((soft * 255).round().astype(np.uint8), [(1, 11)], threshold=0.1)[0].sum()) == 10
    assert int(read_masks(torch.from_numpy(soft), [(1, 11)], threshold=0.25)[0].sum()) == 8


def test_rgb_mask_uses_luminance():
    mask = np.zeros((1, 3, 3), np.uint8)
    mask[0, 0] = (255, 255, 255)  # white: fill
    mask[0, 1] = (255, 0, 0)  # red: luminance 0.299, keep
    mask[0, 2] = (0, 255, 0)  # green: 0.587, fill
    assert _mask_of(mask).tolist() == [[True, False, True]]
    assert _mask_of(Image.fromarray(mask)).tolist() == [[True, False, True]]


def test_rgba_mask_uses_alpha_when_it_is_used_else_luminance():
    painted = np.zeros((1, 3, 4), np.uint8)  # a brush layer: black strokes on transparent
    painted[0, 1, 3] = 255
    painted[0, 2, 3] = 100  # faint edge below half: keep
    assert _mask_of(Image.fromarray(painted)).tolist() == [[False, True, False]]
    opaque = np.full((1, 2, 4), 255, np.uint8)  # white-on-black saved as RGBA
    opaque[0, 0, :3] = 0
    assert _mask_of(opaque).tolist() == [[False, True]]
    la = Image.fromarray(painted).convert("LA")
    assert _mask_of(la).tolist() == [[False, True, False]]


def test_read_masks_broadcasts_one_mask_and_splits_batches():
    sizes = [(H, W)] * 3
    one = read_masks(HOLE, sizes)
    assert len(one) == 3 and all(torch.equal(m, torch.from_numpy(HOLE)) for m in one)
    batched = torch.zeros(3, 1, H, W)
    batched[1, 0, 0, 0] = 1
    split = read_masks(batched, sizes)
    assert [bool(m.any()) for m in split] == [False, True, False]
    for shape in [(H, W), (1, H, W), (3, H, W), (1, 1, H, W)]:
        assert len(read_masks(torch.zeros(shape), sizes)) == 3


def test_hole_batch_is_b1hw_bool_for_every_mask_kind():
    soft = torch.zeros(2, H, W)
    soft[1, 3:9, 4:12] = 0.6
    expected = soft[:, None] >= 0.5
    for masks in (soft, soft[:, None], [soft[0].numpy(), Image.fromarray((soft[1].numpy() * 255).astype(np.uint8))]):
        batch = hole_batch(masks)
        assert batch.dtype == torch.bool and torch.equal(batch, expected)
    assert torch.equal(hole_batch(soft, threshold=0.7), torch.zeros(2, 1, H, W, dtype=torch.bool))
    with pytest.raises(InputError, match="different sizes"):
        hole_batch([np.zeros((H, W), bool), np.zeros((W, H), bool)])


def test_bool_mask_tensor_is_not_handed_back_as_the_hole():
    mask = torch.zeros(H, W, dtype=torch.bool)
    hole = read_masks(mask, [(H, W)])[0]
    mask[0, 0] = True
    assert not bool(hole.any())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.float16, torch.float32])
def test_tensor_masks_stay_on_their_device(dtype):
    mask = (torch.rand(2, 1, H, W, device="cuda") > 0.5).to(dtype)
    holes = read_masks(mask * (255 if dtype == torch.uint8 else 1), [(H, W)] * 2)
    assert all(h.device == mask.device and h.dtype == torch.bool for h in holes)
    assert torch.equal(torch.stack(holes), mask[:, 0].bool())


def test_size_mismatch_names_both_sizes():
    with pytest.raises(InputError, match=r"mask is 20x10 but the image is 17x13.*exact size"):
        read_masks(np.zeros((10, 20), bool), [(H, W)])


def test_mask_channel_and_count_errors():
    with pytest.raises(InputError, match="3 channels.*one channel"):
        read_masks(torch.zeros(1, 3, H, W), [(H, W)])
    with pytest.raises(InputError, match="3 mask"):
        read_masks([HOLE, HOLE, HOLE], [(H, W), (H, W)])
    with pytest.raises(InputError, match="mask array has shape"):
        read_masks(np.zeros((H, W, 5)), [(H, W)])


def test_bad_mask_values():
    with pytest.raises(InputError, match="int64"):
        read_masks(np.zeros((H, W), np.int64), [(H, W)])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        read_masks(np.full((H, W), 255.0), [(H, W)])


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 5, 5), (2, 0, 5), (1, 1, 5, 0)])
def test_empty_float_mask_tensor_is_an_input_error(shape):
    with pytest.raises(InputError, match="empty"):
        mask_to_tensor(torch.zeros(shape))
