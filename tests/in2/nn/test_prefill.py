"""The smooth hole pre-fill (membrane interpolation) and the residual head built on it."""

from __future__ import annotations

import pytest
import torch

from in2 import IN2, IN2Config
from in2.config import IN2Config as Config
from in2.nn.prefill import prefill, smooth_prefill


def _ramp(h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([xx, yy, (xx + yy) / 2])[None]


def _box_mask(h: int, w: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, h, w)
    mask[..., h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
    return mask


def test_known_pixels_come_back_exactly_and_the_hole_is_never_read():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 37, 53, generator=g)
    mask = (torch.rand(2, 1, 37, 53, generator=g) > 0.7).float()
    filled = smooth_prefill(image * (1 - mask), mask)
    assert torch.equal(filled * (1 - mask), image * (1 - mask))
    other = image.clone()
    other[mask.expand_as(image) > 0] = torch.rand(int(mask.sum().item() * 3), generator=g)
    assert torch.equal(prefill(other, mask, "smooth"), prefill(image, mask, "smooth"))


def test_a_linear_ramp_is_continued_into_the_hole():
    """Membrane interpolation reproduces harmonic (here: linear) content; the relaxation does the work."""
    image, mask = _ramp(40, 60), _box_mask(40, 60)

    def err(steps: int) -> float:
        return float(((smooth_prefill(image * (1 - mask), mask, steps) - image).abs() * mask).max())

    assert err(64) < 0.005
    assert err(0) > 10 * err(64)  # the coarse pull alone is far off: the relaxation is what fills


def test_fill_stays_within_the_known_range():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 64, 48, generator=g) * 0.5 + 0.25
    mask = _box_mask(64, 48)
    filled = smooth_prefill(image * (1 - mask), mask)
    assert filled.min() >= 0.25 - 1e-6 and filled.max() <= 0.75 + 1e-6


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (3, 2), (17, 16)])
def test_any_size_and_a_hole_covering_everything(size):
    image = torch.rand(1, 3, *size)
    assert smooth_prefill(image, torch.zeros(1, 1, *size)).shape == image.shape
    assert torch.equal(smooth_prefill(image * 0, torch.ones(1, 1, *size)), torch.zeros_like(image))


def test_zeros_mode_is_the_papers_blanked_input():
    image, mask = torch.rand(1, 3, 20, 20), _box_mask(20, 20)
    assert torch.equal(prefill(image, mask, "zeros"), image * (1 - mask))
    with pytest.raises(ValueError, match="hole_prefill"):
        prefill(image, mask, "telea")


def test_untrained_smooth_model_returns_the_prefill_and_region_decoding_matches():
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny(hole_prefill="smooth")).eval()
    image, mask = _ramp(24, 40), _box_mask(24, 40)
    with torch.no_grad():
        full = model(image, mask)
        region = model(image, mask, decode_only=mask)
    assert torch.allclose(full, smooth_prefill(image * (1 - mask), mask), atol=1e-6)
    assert torch.equal(region * (1 - mask), torch.zeros_like(region))
    assert torch.allclose(region * mask, full * mask, atol=1e-6)


def test_trained_head_corrects_the_prefill():
    """A non-zero head changes the output: the decoder's correction is added, not ignored."""
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny(hole_prefill="smooth")).eval()
    torch.nn.init.normal_(model.decoder.to_rgb.weight, std=0.5)
    image, mask = _ramp(24, 40), _box_mask(24, 40)
    with torch.no_grad():
        out = model(image, mask)
    assert (out - smooth_prefill(image * (1 - mask), mask)).abs().max() > 0.01
    assert out.min() >= 0 and out.max() <= 1


def test_config_field_is_validated_and_old_configs_mean_zeros():
    assert Config.from_dict({}).hole_prefill == "zeros"
    with pytest.raises(ValueError, match="hole_prefill"):
        Config(hole_prefill="blur")
    with pytest.raises(ValueError, match="prefill_steps"):
        Config(prefill_steps=-1)


def _reference_fill(image: torch.Tensor, mask: torch.Tensor, steps: int) -> torch.Tensor:
    """The same membrane fill relaxing every pixel of every level (no hole box)."""
    import torch.nn.functional as F

    from in2.nn.prefill import _neighbour_mean

    known = 1 - mask
    colours, weights = [image * known], [known]
    while colours[-1].shape[-2] > 1 or colours[-1].shape[-1] > 1:
        colours.append(F.avg_pool2d(colours[-1], 2, ceil_mode=True, count_include_pad=False))
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True, count_include_pad=False))
    guess = colours[-1] / weights[-1].clamp_min(1e-8)
    for colour, weight in zip(reversed(colours[:-1]), reversed(weights[:-1]), strict=True):
        guess = F.interpolate(guess, size=colour.shape[-2:], mode="bilinear", align_corners=False)
        guess = colour + guess * (1 - weight)
        for _ in range(steps):
            guess = torch.addcmul(colour, _neighbour_mean(guess), 1 - weight)
    return guess


@pytest.mark.parametrize("where", ["inside", "corner", "scattered"])
def test_relaxing_only_the_hole_box_changes_nothing(where):
    g = torch.Generator().manual_seed(2)
    image = torch.rand(2, 3, 90, 130, generator=g)
    mask = torch.zeros(2, 1, 90, 130)
    if where == "inside":
        mask[0, :, 30:50, 40:70] = 1
    elif where == "corner":
        mask[1, :, 70:, 110:] = 1
    else:
        mask = (torch.rand(2, 1, 90, 130, generator=g) > 0.8).float()
    blanked = image * (1 - mask)
    assert torch.equal(smooth_prefill(blanked, mask, 16), _reference_fill(blanked, mask, 16))


@pytest.mark.parametrize("size", [(1, 9), (7, 1), (23, 31), (64, 48)])
def test_the_in_place_relaxation_is_the_autograd_one_bit_for_bit(size):
    """Inference relaxes inside one padded buffer; training keeps the autograd form. Both must
    give the very same fill (the bundled weights were trained on the second)."""
    h, w = size
    torch.manual_seed(3)
    image, mask = torch.rand(2, 3, h, w), (torch.rand(2, 1, h, w) > 0.6).float()
    with torch.no_grad():
        fast = smooth_prefill(image, mask)
    slow = smooth_prefill(image.requires_grad_(True), mask)
    assert torch.equal(fast, slow.detach())
