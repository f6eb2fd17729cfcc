"""Mask preparation (``in2.mask_prep``): grow, shrink, fill enclosed gaps, threshold."""

from __future__ import annotations

import pytest
import torch

from in2.errors import InputError
from in2.mask_prep import MaskPrep, fill_enclosed, grow_mask, parse_grow


def _square(size: int = 41, half: int = 5) -> torch.Tensor:
    hole = torch.zeros(size, size, dtype=torch.bool)
    c = size // 2
    hole[c - half : c + half + 1, c - half : c + half + 1] = True
    return hole


def test_grow_reaches_the_radius_roundly_and_shrink_undoes_it():
    hole = _square()
    grown = grow_mask(hole, 6)
    c = 20
    assert bool(grown[c, c - 11]) and not bool(grown[c, c - 12])  # 5 + 6 along an axis
    assert not bool(grown[c - 11, c - 11])  # corners cut: rounder than a square brush
    assert bool(grown[hole].all())
    assert torch.equal(grow_mask(grown, -6)[hole], hole[hole])
    assert int(grow_mask(hole, -5).sum()) == 1  # an 11x11 square shrunk by 5 leaves its centre
    assert torch.equal(grow_mask(hole, 0), hole)


def test_grow_clips_at_the_photo_edge():
    hole = torch.zeros(10, 10, dtype=torch.bool)
    hole[0, 0] = True
    grown = grow_mask(hole, 3)
    assert grown.shape == (10, 10) and bool(grown[3, 0]) and not bool(grown[4, 0])


def test_fill_enclosed_fills_inside_a_ring_but_not_a_bay_open_to_the_edge():
    hole = torch.zeros(30, 30, dtype=torch.bool)
    hole[5:15, 5:15] = True
    hole[8:12, 8:12] = False  # enclosed gap
    hole[20:30, 20:23] = True
    hole[20:30, 26:29] = True
    hole[20:23, 20:29] = True  # a U open to the bottom edge
    filled = fill_enclosed(hole)
    assert bool(filled[8:12, 8:12].all())
    assert not bool(filled[25:30, 23:26].any())
    assert torch.equal(
        filled & ~hole,
        torch.zeros_like(hole).index_put_(
            (torch.arange(8, 12).repeat_interleave(4), torch.arange(8, 12).repeat(4)), torch.tensor(True)
        ),
    )


def test_relative_grow_and_its_parsing():
    assert parse_grow("2%") == (2.0, True) and parse_grow(3) == (3.0, False) and parse_grow("4") == (4.0, False)
    assert MaskPrep(grow="10%").grow_pixels(200, 400) == 20
    for bad in ("two", "%", float("inf"), True):
        with pytest.raises(InputError, match="grow"):
            parse_grow(bad)


def test_apply_fills_then_grows():
    hole = _square(41, 8)
    hole[20, 20] = False
    out = MaskPrep(grow=2, fill_holes=True).apply(hole)
    assert bool(out[20, 20]) and bool(out[20, 20 - 10]) and not bool(out[20, 20 - 11])
    assert torch.equal(MaskPrep().apply(hole), hole)


def test_threshold_outside_zero_to_one_is_refused():
    for bad in (0, 1.5, "x"):
        with pytest.raises(InputError, match="threshold"):
            MaskPrep(threshold=bad)


def test_grow_has_bounds_that_keep_every_run_finite():
    for bad in (1e9, -1e6, "1e9", "60%", float("inf")):
        with pytest.raises(InputError, match="grow must be pixels from -1024 to 1024"):
            MaskPrep(grow=bad)
    hole = torch.zeros(64, 48, dtype=torch.bool)
    hole[30, 20] = True
    assert bool(grow_mask(hole, 1024).all())  # steps beyond the photo's side are not taken
    assert not bool(grow_mask(hole, -1024).any())


def test_numpy_and_torch_scalars_and_whole_floats_are_numbers():
    import numpy as np

    prep = MaskPrep(grow=np.int64(4), threshold=np.float32(0.5), fill_holes=np.bool_(True))
    assert prep.grow_pixels(10, 10) == 4 and prep.threshold == 0.5 and prep.fill_holes is True
    assert MaskPrep(grow=torch.tensor(3), threshold=torch.tensor(0.25)).threshold == 0.25
    with pytest.raises(InputError, match=r"threshold must be in \(0, 1\].*got np.float32\(1.5\)|got 1.5"):
        MaskPrep(threshold=np.float32(1.5))
