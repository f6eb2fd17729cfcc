"""Coarse to fine for wide holes: where it starts, what each pass sees, and that the pipeline
keeps its promises (known pixels exact, hidden content never read) when it runs."""

from __future__ import annotations

import pytest
import torch

from in2 import IN2, IN2Config, InpaintPipeline
from in2.coarse_to_fine import MIN_SIDE, coarse_guess, coarse_levels, hole_inradius
from in2.errors import InputError


def _box(height: int, width: int, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, height, width)
    mask[..., top:bottom, left:right] = 1
    return mask


def _smooth_model(seed: int = 0) -> IN2:
    torch.manual_seed(seed)
    model = IN2(IN2Config.tiny(hole_prefill="smooth", train_resolution=64, coarse_reach=32)).eval()
    torch.nn.init.normal_(model.decoder.to_rgb.weight, std=0.1)  # not the initial "copy the pre-fill" head
    return model


@pytest.mark.parametrize("side", [1, 7, 20, 61])
def test_inradius_of_a_square_hole_is_half_its_side(side):
    mask = _box(200, 180, 30, 40, 30 + side, 40 + side)
    assert hole_inradius(mask) == (side + 1) // 2


def test_inradius_counts_the_image_edge_as_unknown_and_stays_bounded():
    assert hole_inradius(_box(100, 100, 0, 0, 100, 10)) == 10  # a strip along the edge: 10 deep from the known side
    assert hole_inradius(torch.zeros(1, 1, 50, 50)) == 0
    assert hole_inradius(torch.ones(1, 1, 40, 30)) == 40  # nothing known: the loop stops at the image's side
    big = _box(3000, 2000, 100, 100, 900, 900)  # measured on a bounded copy: within one cell of the truth
    assert abs(hole_inradius(big) - 400) <= 12


def test_levels_halve_until_the_hole_is_within_reach_and_stop_at_the_smallest_side():
    mask = _box(256, 256, 40, 40, 220, 220)  # inradius 90
    assert coarse_levels(mask, 32, 256, 256) == 2  # 90 -> 45 -> 22.5
    assert coarse_levels(mask, 100, 256, 256) == 0
    assert coarse_levels(mask, 1, 256, 256) == 3  # 256 / 8 = 32 = MIN_SIDE: no further
    assert MIN_SIDE == 256 / 2**3


def test_coarse_guess_runs_each_level_at_half_the_size_and_never_reads_the_hidden_content():
    image, hole = torch.rand(1, 3, 100, 150), _box(100, 150, 20, 30, 80, 120)
    seen = []

    def predict(small, small_hole, guess):
        seen.append((tuple(small.shape[-2:]), guess is None))
        assert torch.equal(small_hole, (small_hole > 0).float())
        return small.new_full(small.shape, 0.25) if guess is None else guess.flip(-1)

    first = coarse_guess(predict, image, hole, 2)
    assert seen == [((25, 38), True), ((50, 75), False)]
    assert first.shape == image.shape and first.min() >= 0 and first.max() <= 1
    hidden = image.clone()
    hidden[hole.expand_as(image) > 0] = 7.0  # what the hole hides changes nothing
    assert torch.equal(coarse_guess(predict, hidden, hole, 2), first)


def test_the_pipeline_fills_a_wide_hole_coarse_to_fine_with_known_pixels_exact():
    pipe = InpaintPipeline(_smooth_model(), device="cpu")
    image, mask = torch.rand(3, 160, 192), _box(160, 192, 10, 20, 150, 180)[0, 0]
    calls = []
    forward = pipe.model.forward

    def spy(img, m, **kwargs):
        calls.append((tuple(img.shape[-2:]), kwargs.get("guess") is not None))
        return forward(img, m, **kwargs)

    pipe.model.forward = spy
    out = pipe(image, mask, crop="off").image
    assert calls == [((40, 48), False), ((80, 96), True), ((160, 192), True)]  # inradius 70 -> 17.5 within 32
    known = ~mask.bool().expand(3, -1, -1)
    assert torch.equal(out[known], image[known])
    calls.clear()
    pipe.reach = None
    one_pass = pipe(image, mask, crop="off").image
    assert calls == [((160, 192), False)] and not torch.equal(one_pass, out)
    calls.clear()
    pipe.reach = 32
    pipe(image, mask, crop="off", mode="resize")  # resize mode squashes to the train size: one pass
    assert calls == [((64, 64), False)]


def test_the_weights_say_whether_they_go_coarse_to_fine():
    """Weights trained to correct a coarse guess carry ``coarse_reach``; others fill in one pass."""
    assert InpaintPipeline(_smooth_model(), device="cpu").reach == 32
    plain = IN2(IN2Config.tiny(hole_prefill="smooth")).eval()
    assert InpaintPipeline(plain, device="cpu").reach is None
    assert IN2Config.from_dict(_smooth_model().config.to_dict()).coarse_reach == 32  # config.json keeps it
    with pytest.raises(ValueError, match="coarse_reach needs hole_prefill 'smooth'"):
        IN2Config.tiny(coarse_reach=32)
    with pytest.raises(ValueError, match="coarse_reach must be from 0 to 4096"):
        IN2Config.tiny(hole_prefill="smooth", coarse_reach=-1)


def test_weights_without_the_smooth_pre_fill_take_one_pass_and_refuse_a_guess():
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny()).eval()  # zeros in the hole, the paper's input
    image, mask = torch.rand(1, 3, 96, 96), _box(96, 96, 8, 8, 88, 88)
    with pytest.raises(InputError, match="smooth"):
        model(image, mask, guess=image)
    pipe = InpaintPipeline(model, device="cpu")
    assert torch.equal(pipe(image[0], mask[0, 0], crop="off").image, pipe(image[0], mask[0, 0], crop="off").image)


def test_a_guess_is_what_the_network_corrects():
    model = _smooth_model()
    image, mask = torch.rand(1, 3, 48, 64), _box(48, 64, 10, 10, 40, 50)
    with torch.no_grad():
        torch.nn.init.zeros_(model.decoder.to_rgb.weight)
        torch.nn.init.zeros_(model.decoder.to_rgb.bias)  # a zero correction: the output is the start itself
        guess = torch.rand_like(image)
        out = model(image, mask, guess=guess)
    assert torch.allclose(out[mask.expand_as(out) > 0], guess[mask.expand_as(out) > 0], atol=1e-6)
    with pytest.raises(InputError, match="size"):
        model(image, mask, guess=guess[..., :40])
