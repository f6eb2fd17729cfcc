"""Images smaller than ``min_size``: padded for the network, yet hidden pixels never reach it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from in2 import IN2, IN2Config, InpaintPipeline


@pytest.fixture(scope="module")
def tiny() -> IN2:
    torch.manual_seed(0)
    return IN2(IN2Config.tiny()).eval()


def _border_hole(height: int, width: int, where: str) -> torch.Tensor:
    """A [1,1,H,W] hole that touches the named border(s) of the image."""
    mask = torch.zeros(1, 1, height, width)
    if where == "bottom":
        mask[..., height // 2 :, 1 : max(2, width - 1)] = 1
    elif where == "right":
        mask[..., 1 : max(2, height - 1), width // 2 :] = 1
    elif where == "corner":
        mask[..., height // 3 :, width // 3 :] = 1
    elif where == "pixel":  # one hole pixel in the bottom-right corner
        mask[..., -1, -1] = 1
    elif where == "inside":  # away from every border: the padding never touches it
        mask[..., 1:-1, 1:-1] = 1
    return mask


def _with_other_hidden_pixels(image: torch.Tensor, mask: torch.Tensor, seed: int) -> torch.Tensor:
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(seed))
    return torch.where(mask.bool(), noise, image)


@pytest.mark.parametrize("height, width, where", [
    (10, 12, "bottom"), (10, 12, "right"), (7, 5, "corner"), (15, 40, "bottom"), (40, 9, "right"),
    (3, 3, "pixel"), (12, 12, "inside"), (1, 1, "pixel"),
])
def test_hidden_pixels_never_change_the_output(tiny, height, width, where):
    # The padding of a small image must not copy the content under the hole: only the hidden
    # pixels change between the two runs, so the prediction must be bit-identical.
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(1))
    mask = _border_hole(height, width, where)
    with torch.no_grad():
        first = tiny(image, mask)
        second = tiny(_with_other_hidden_pixels(image, mask, seed=2), mask)
    assert first.shape == (1, 3, height, width)
    assert torch.equal(first, second), (first - second).abs().max()


def test_known_pixels_still_reach_the_network(tiny):
    # The counterpart: changing a known pixel next to the padding does change the fill, so
    # the test above cannot pass because the output ignores its input.
    image = torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(1))
    mask = _border_hole(10, 12, "corner")
    other = image.clone()
    other[..., 0, -1] = 1 - other[..., 0, -1]
    with torch.no_grad():
        assert not torch.equal(tiny(image, mask), tiny(other, mask))


def test_hidden_pixels_of_each_image_in_a_batch(tiny):
    # Different masks per image; each image's hidden content changes independently.
    image = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(3))
    mask = torch.cat([_border_hole(9, 11, "bottom"), _border_hole(9, 11, "right")])
    with torch.no_grad():
        first = tiny(image, mask)
        second = tiny(_with_other_hidden_pixels(image, mask, seed=4), mask)
    assert torch.equal(first, second)


# resize runs the tiny model at its training size (a few hundred pixels a side): seconds each
@pytest.mark.parametrize("mode", ["native", pytest.param("resize", marks=pytest.mark.slow)])
@pytest.mark.parametrize("blend", ["none", "seamless"])
def test_pipeline_under_min_size(tiny, mode, blend):
    # A 10x13 photo (smaller than min_size on both sides) through the public pipeline: same
    # size back, known pixels bit-exact, and the fill does not depend on what was hidden.
    pipe = InpaintPipeline(tiny, device="cpu")
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (10, 13, 3), dtype=np.uint8)
    hole = np.zeros((10, 13), dtype=bool)
    hole[4:, 7:] = True  # touches the bottom and right borders
    mask = Image.fromarray(hole.astype(np.uint8) * 255)
    other = pixels.copy()
    other[hole] = 255 - other[hole]

    out = np.asarray(pipe(Image.fromarray(pixels), mask, mode=mode, blend=blend).image)
    again = np.asarray(pipe(Image.fromarray(other), mask, mode=mode, blend=blend).image)
    assert out.shape == pixels.shape
    assert np.array_equal(out[~hole], pixels[~hole])
    assert np.array_equal(out, again)
