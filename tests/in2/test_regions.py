"""Hole regions and context boxes (``in2.regions``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from in2.errors import InputError
from in2.regions import Box, context_box, crop_boxes, label_regions, plan_boxes, region_boxes, stitch


def _hole(height: int, width: int, *rects: tuple[int, int, int, int]) -> torch.Tensor:
    hole = torch.zeros(height, width, dtype=torch.bool)
    for top, left, bottom, right in rects:
        hole[top:bottom, left:right] = True
    return hole


def test_labels_separate_regions_and_join_winding_ones():
    # an S-shaped region (several turns) and a separate dot
    hole = _hole(
        20, 20, (1, 1, 3, 15), (1, 13, 10, 15), (8, 2, 10, 15), (8, 2, 18, 4), (16, 2, 18, 12), (15, 18, 16, 19)
    )
    labels, count = label_regions(hole)
    assert count == 2
    assert bool((labels[hole] >= 0).all()) and bool((labels[~hole] == -1).all())
    assert len(set(labels[1:3, 1:15].flatten().tolist())) == 1
    assert labels[1, 1] == labels[17, 11] != labels[15, 18]


def test_diagonal_touch_is_two_regions_and_empty_is_none():
    hole = _hole(6, 6, (0, 0, 2, 2), (2, 2, 4, 4))
    assert label_regions(hole)[1] == 2
    assert label_regions(torch.zeros(5, 5, dtype=torch.bool))[1] == 0
    assert region_boxes(torch.zeros(5, 5, dtype=torch.bool)) == []


def test_region_boxes_are_tight():
    hole = _hole(50, 60, (5, 7, 9, 20), (30, 40, 41, 42))
    assert region_boxes(hole) == [Box(5, 7, 4, 13), Box(30, 40, 11, 2)]


def test_context_box_scales_keeps_minimum_and_moves_inside():
    assert context_box(Box(40, 40, 10, 20), 100, 100, 3.0, 16) == Box(30, 20, 30, 60)
    assert context_box(Box(40, 40, 2, 2), 100, 100, 3.0, 16) == Box(33, 33, 16, 16)
    # near the corner: moved inside at full size, not cut
    assert context_box(Box(0, 95, 4, 5), 100, 100, 2.0, 30) == Box(0, 70, 30, 30)
    # never larger than the photo
    assert context_box(Box(10, 10, 50, 50), 60, 80, 3.0, 16) == Box(0, 0, 60, 80)


def test_overlapping_boxes_merge_and_far_ones_do_not():
    far = plan_boxes(_hole(400, 600, (50, 50, 60, 60), (300, 500, 310, 510)), 3.0, 64)
    assert far == [Box(23, 23, 64, 64), Box(273, 473, 64, 64)]
    near = plan_boxes(_hole(400, 600, (50, 50, 60, 60), (50, 100, 60, 110)), 3.0, 64)
    assert len(near) == 1
    (box,) = near
    assert box.top <= 50 and box.left <= 50 and box.bottom >= 60 and box.right >= 110
    # every hole pixel lies in exactly one box
    for boxes, hole in ((far, _hole(400, 600, (50, 50, 60, 60), (300, 500, 310, 510))),):
        cover = torch.zeros_like(hole, dtype=torch.int32)
        for b in boxes:
            cover[b.slices] += 1
        assert bool((cover[hole] == 1).all())


@pytest.mark.parametrize("context, minimum", [(0.5, 64), (float("nan"), 64), (2.0, 0)])
def test_bad_context_is_an_input_error(context, minimum):
    with pytest.raises(InputError, match="context|pixels"):
        plan_boxes(_hole(10, 10, (1, 1, 2, 2)), context, minimum)


def test_crop_boxes_follow_the_crop_choice(monkeypatch):
    hole = _hole(100, 120, (10, 10, 20, 20))
    whole, boxes = [Box(0, 0, 100, 120)], plan_boxes(hole, 3.0, 30)
    assert crop_boxes(hole, "off", 3.0, 30, whole_fits=False) == whole
    assert crop_boxes(hole, "on", 3.0, 30, whole_fits=True) == boxes
    assert crop_boxes(hole, "auto", 3.0, 30, whole_fits=False) == boxes  # does not fit whole
    assert crop_boxes(hole, "auto", 3.0, 30, whole_fits=True) == whole  # a small photo runs whole
    monkeypatch.setattr("in2.regions.AUTO_CROP_MIN_PIXELS", 100 * 120)
    assert crop_boxes(hole, "auto", 3.0, 30, whole_fits=True) == boxes  # a large photo, small holes
    assert crop_boxes(hole, "auto", 3.0, 100, whole_fits=True) == whole  # boxes cover most of it


def test_stitch_copies_the_original_once_and_fills_the_box():
    original = torch.rand(3, 8, 10, dtype=torch.float64)
    first = stitch(None, original, Box(1, 2, 3, 4), torch.zeros(3, 3, 4))
    assert first.dtype == torch.float32 and float(first[:, 1:4, 2:6].abs().sum()) == 0
    both = stitch(first, original, Box(5, 0, 2, 2), torch.ones(3, 2, 2))
    assert both is first and bool((both[:, 5:7, 0:2] == 1).all())
    assert torch.equal(both[:, 0], original[:, 0].float())
    whole = torch.rand(3, 8, 10)
    assert stitch(None, original, Box(0, 0, 8, 10), whole) is whole


def _flood_labels(grid: np.ndarray) -> np.ndarray:
    """Reference labelling: breadth-first flood fill from each unlabelled pixel in row-major order."""
    labels = np.full(grid.shape, -1, dtype=np.int64)
    count = 0
    for start in zip(*np.nonzero(grid), strict=True):
        if labels[start] >= 0:
            continue
        labels[start], queue = count, [start]
        while queue:
            r, c = queue.pop()
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= rr < grid.shape[0] and 0 <= cc < grid.shape[1] and grid[rr, cc] and labels[rr, cc] < 0:
                    labels[rr, cc] = count
                    queue.append((rr, cc))
        count += 1
    return labels


def test_label_regions_matches_a_flood_fill_on_random_masks() -> None:
    rng = np.random.default_rng(0)
    for _ in range(150):
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        grid = rng.random((height, width)) < rng.random()
        labels, count = label_regions(torch.from_numpy(grid))
        expected = _flood_labels(grid)
        assert count == expected.max() + 1
        assert np.array_equal(labels.numpy(), expected)


def test_label_regions_joins_a_long_spiral() -> None:
    """A shape with many turns is one region (the union needs few rounds, not one per turn)."""
    grid = np.zeros((41, 41), dtype=bool)
    top, left, bottom, right = 0, 0, 40, 40
    while top <= bottom and left <= right:
        grid[top, left : right + 1] = True
        grid[top : bottom + 1, right] = True
        grid[bottom, left : right + 1] = True
        grid[top + 2 : bottom + 1, left] = True
        if top + 2 <= bottom:
            grid[top + 2, left : right - 1] = True
        top, left, bottom, right = top + 4, left + 2, bottom - 2, right - 2
    labels, count = label_regions(torch.from_numpy(grid))
    expected = _flood_labels(grid)
    assert count == expected.max() + 1
    assert np.array_equal(labels.numpy(), expected)
