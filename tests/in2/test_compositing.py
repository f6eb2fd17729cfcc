"""Compositing keeps known pixels bit-exact; the seamless blend hides the seam inside the hole."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from in2.compositing import default_feather, paste_into_hole, seamless_blend
from in2.errors import InputError


def _scene(batch: int = 2, height: int = 64, width: int = 80):
    gen = torch.Generator().manual_seed(0)
    image = 0.5 + 0.3 * torch.rand(batch, 3, height, width, generator=gen)
    prediction = 0.2 * torch.rand(batch, 3, height, width, generator=gen)  # wrong colour on purpose
    mask = torch.zeros(batch, 1, height, width)
    mask[:, :, 16:48, 20:56] = 1
    return image, prediction, mask


def _edge_gap(out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean colour just inside the hole minus mean colour just outside, per image and channel."""
    hole = mask.bool()
    inside = hole & (F.max_pool2d((~hole).float(), 3, 1, 1) > 0)
    outside = ~hole & (F.max_pool2d(hole.float(), 3, 1, 1) > 0)
    mean = lambda sel: (out * sel).sum((2, 3)) / sel.sum((2, 3))  # noqa: E731
    return (mean(inside) - mean(outside)).abs()


def test_paste_is_bit_exact_outside_and_prediction_inside():
    image, prediction, mask = _scene()
    out = paste_into_hole(image, prediction, mask)
    keep = ~mask.bool().expand_as(image)
    assert torch.equal(out[keep], image[keep])
    assert torch.equal(out[~keep], prediction[~keep])
    assert torch.equal(paste_into_hole(image, prediction, mask.bool()), out)


def test_paste_passes_gradients_to_the_prediction_only_in_the_hole():
    image, prediction, mask = _scene(batch=1)
    prediction.requires_grad_(True)
    paste_into_hole(image, prediction, mask).sum().backward()
    assert torch.equal(prediction.grad, mask.expand_as(prediction))


def test_seamless_keeps_known_pixels_and_closes_the_seam():
    image, prediction, mask = _scene()
    plain = paste_into_hole(image, prediction, mask)
    blended = seamless_blend(image, prediction, mask)
    keep = ~mask.bool().expand_as(image)
    assert torch.equal(blended[keep], image[keep])
    before, after = _edge_gap(plain, mask), _edge_gap(blended, mask)
    assert torch.all(after < 0.25 * before), (before, after)
    assert blended.min() >= 0 and blended.max() <= 1


def test_seamless_matches_colour_deep_inside_the_hole():
    image, prediction, mask = _scene(batch=1)
    blended = seamless_blend(image, prediction, mask, feather=2)
    centre = blended[:, :, 28:36, 34:42].mean((2, 3))
    assert torch.allclose(centre, image.mean((2, 3)), atol=0.1)


def test_seamless_full_mask_returns_the_prediction_and_single_images_work():
    image, prediction, _ = _scene(batch=1)
    full = torch.ones(1, 1, *image.shape[-2:])
    assert torch.allclose(seamless_blend(image, prediction, full), prediction)
    _, _, mask = _scene(batch=1)
    single = seamless_blend(image[0], prediction[0], mask[0])
    assert single.shape == image[0].shape


def test_shape_errors_and_feather():
    image, prediction, mask = _scene()
    with pytest.raises(InputError, match="prediction shape"):
        paste_into_hole(image, prediction[:, :, :10], mask)
    with pytest.raises(InputError, match="mask shape"):
        paste_into_hole(image, prediction, mask[:, :, :10])
    with pytest.raises(InputError, match="feather must be >= 1"):
        seamless_blend(image, prediction, mask, feather=0)
    assert default_feather(512, 512) == 8 and default_feather(20, 4000) == 2 and default_feather(9000, 9000) == 32


def test_seamless_with_border_holes_and_a_different_mask_per_image():
    # Holes that touch the image border (corner, whole right edge), one mask per image: known
    # pixels stay exact, the seam still closes, and each image blends exactly as it would alone
    # (the shared crop box of a batch must not change anyone's result).
    image, prediction, _ = _scene(batch=3)
    mask = torch.zeros(3, 1, 64, 80)
    mask[0, :, :20, :24] = 1  # top-left corner
    mask[1, :, 10:54, 60:] = 1  # the right edge
    mask[2, :, 40:, 30:50] = 1  # the bottom edge
    plain = paste_into_hole(image, prediction, mask)
    blended = seamless_blend(image, prediction, mask)
    keep = ~mask.bool().expand_as(image)
    assert torch.equal(blended[keep], image[keep])
    assert torch.all(_edge_gap(blended, mask) < 0.25 * _edge_gap(plain, mask))
    for b in range(3):
        alone = seamless_blend(image[b : b + 1], prediction[b : b + 1], mask[b : b + 1])
        torch.testing.assert_close(blended[b : b + 1], alone, rtol=0, atol=1e-6)


@pytest.mark.parametrize("squeeze", [False, True])
def test_an_empty_hole_gives_a_copy_of_the_image(squeeze):
    image, prediction, mask = _scene()
    mask.zero_()
    if squeeze:
        image, prediction, mask = image[0], prediction[0], mask[0]
    for out in (seamless_blend(image, prediction, mask), paste_into_hole(image, prediction, mask)):
        assert torch.equal(out, image) and out.data_ptr() != image.data_ptr()
