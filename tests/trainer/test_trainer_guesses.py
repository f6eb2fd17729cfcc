"""Training guesses (trainer/guesses.py): the coarse starts that in2.coarse_to_fine's finer passes get."""

from __future__ import annotations

import pytest
import torch

from trainer.guesses import GuessParams, coarse_truth_guess


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    image = torch.rand(4, 3, 48, 64)
    mask = torch.zeros(4, 1, 48, 64)
    mask[..., 10:38, 12:50] = 1
    return image, mask


def test_share_zero_never_and_share_one_always_gives_a_guess_between_the_truth_and_the_pre_fill():
    from in2.nn.prefill import smooth_prefill

    image, mask = _batch()
    assert coarse_truth_guess(image, mask, GuessParams(share=0.0)) is None
    pure = coarse_truth_guess(image, mask, GuessParams(share=1.0, factors=(2.0, 2.0), truth=(1.0, 1.0)))
    coarse = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(image, 2), scale_factor=2,
                                             mode="bilinear", align_corners=False)
    assert torch.allclose(pure, coarse, atol=1e-6)  # all truth: the photo at half size, brought back up
    none = coarse_truth_guess(image, mask, GuessParams(share=1.0, truth=(0.0, 0.0)))
    assert torch.allclose(none, smooth_prefill(image * (1 - mask), mask), atol=1e-6)  # no truth: the pre-fill
    assert not none.requires_grad


def test_about_share_of_the_batches_get_one():
    image, mask = _batch()
    torch.manual_seed(3)
    got = sum(coarse_truth_guess(image[:1, :, :16, :16], mask[:1, :, :16, :16], GuessParams(share=0.3)) is not None
              for _ in range(400))
    assert 80 <= got <= 160


@pytest.mark.parametrize("bad", [{"share": 1.5}, {"factors": (0.5, 2.0)}, {"factors": (4.0, 2.0)},
                                 {"truth": (0.2, 1.5)}])
def test_bad_settings_are_refused_with_the_key_named(bad):
    with pytest.raises(ValueError, match="train.coarse_guess"):
        GuessParams.from_dict(bad)


_LOSSES = {"adversarial": 1.0, "feature_matching": 0.1, "r1": 0.0, "perceptual": 0.0, "l1": 1.0}


def _step_with_spy(config, **step_kwargs):
    """A GANStep on a tiny smooth-pre-fill generator whose calls are recorded: (step, calls),
    each call ``(height, width, whether a guess came)``."""
    from accelerate import Accelerator

    from in2 import IN2
    from trainer.discriminator import PatchDiscriminator
    from trainer.gan_step import GANStep

    torch.manual_seed(0)
    G, D = IN2(config), PatchDiscriminator(base=8, num_down=2)
    acc = Accelerator(cpu=True)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    G, D, opt_g, opt_d = acc.prepare(G, D, opt_g, opt_d)
    calls = []
    forward = G.forward

    def spy(image, mask, **kwargs):
        calls.append((*image.shape[-2:], kwargs.get("guess") is not None))
        return forward(image, mask, **kwargs)

    G.forward = spy
    return GANStep(acc, G, D, opt_g, opt_d, None, _LOSSES, hole_only=True, **step_kwargs), calls


def test_a_training_step_starts_from_the_guess(fresh_accelerate):
    """With share 1 the generator is called with a guess; the step runs and its losses are finite."""
    from in2 import IN2Config

    step, calls = _step_with_spy(IN2Config.tiny(hole_prefill="smooth"), guesses=GuessParams(share=1.0))
    image, mask = _batch()
    out = step(image[:2], mask[:2])
    assert [c[2] for c in calls] == [True] and all(torch.isfinite(torch.tensor(v)) for v in out.values())


def _one_deep_one_shallow() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    image = torch.rand(2, 3, 96, 96)
    mask = torch.zeros(2, 1, 96, 96)
    mask[0, :, 20:76, 20:76] = 1  # inradius 28: deeper than a reach of 8
    mask[1, :, 40:44, 10:80] = 1  # inradius 2
    return image, mask


def test_self_guess_runs_the_coarse_passes_only_where_the_hole_is_deeper_than_the_reach():
    from in2.coarse_to_fine import coarse_guess
    from in2.nn.prefill import smooth_prefill
    from trainer.guesses import coarse_self_guess

    image, mask = _one_deep_one_shallow()
    calls = []

    def predict(small, small_hole, guess):
        calls.append(tuple(small.shape))
        return torch.full_like(small, 0.25)

    def prefill(blanked, hole):
        return smooth_prefill(blanked, hole)

    assert coarse_self_guess(predict, image, mask, 8.0, 0.0, prefill) is None  # share 0: never
    assert coarse_self_guess(predict, image[1:], mask[1:], 8.0, 1.0, prefill) is None and not calls  # shallow only
    got = coarse_self_guess(predict, image, mask, 8.0, 1.0, prefill)
    assert got.shape == image.shape and not got.requires_grad
    assert calls and all(c[0] == 1 for c in calls)  # only the deep sample went through coarse passes
    blanked = image * (1 - mask)
    assert torch.allclose(got[1:], smooth_prefill(blanked[1:], mask[1:]), atol=1e-6)
    calls.clear()
    assert torch.allclose(got[:1], coarse_guess(predict, blanked[:1], mask[:1], 2), atol=1e-6)  # 28 -> 14 -> 7


def test_a_self_guess_step_runs_and_needs_a_reach(fresh_accelerate):
    from in2 import IN2Config

    with pytest.raises(ValueError, match="coarse_reach"):
        _step_with_spy(IN2Config.tiny(hole_prefill="smooth"), guesses=GuessParams(share=1.0, source="self"))
    step, calls = _step_with_spy(IN2Config.tiny(hole_prefill="smooth", coarse_reach=8),
                                 guesses=GuessParams(share=1.0, source="self"))
    out = step(*_one_deep_one_shallow())
    assert calls[-1] == (96, 96, True)  # the full-size pass starts from the coarse passes' guess
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())


def test_an_unknown_guess_source_is_refused():
    with pytest.raises(ValueError, match="train.coarse_guess.source"):
        GuessParams.from_dict({"source": "oracle"})


def test_coarse_view_brings_the_batch_down_as_coarse_to_fine_does():
    from trainer.guesses import ViewParams, coarse_view

    image, mask = _one_deep_one_shallow()
    same = coarse_view(image, mask, ViewParams(share=0.0))
    assert same[0] is image and same[1] is mask
    small, small_mask = coarse_view(image, mask, ViewParams(share=1.0, factors=(2.0, 2.0)))
    assert small.shape == (2, 3, 48, 48) and small_mask.shape == (2, 1, 48, 48)
    assert torch.allclose(small, torch.nn.functional.avg_pool2d(image, 2), atol=1e-6)
    # every pixel that held any hidden pixel is a hole: nothing hidden reaches the generator
    assert torch.equal(small_mask, (torch.nn.functional.avg_pool2d(mask, 2) > 0).float())
    tiny, _ = coarse_view(image, mask, ViewParams(share=1.0, factors=(8.0, 8.0)))
    assert min(tiny.shape[-2:]) >= 32  # never below the coarsest pass's smallest side


def test_a_coarse_view_step_runs(fresh_accelerate):
    from in2 import IN2Config
    from trainer.guesses import ViewParams

    step, calls = _step_with_spy(IN2Config.tiny(hole_prefill="smooth"), views=ViewParams(share=1.0))
    out = step(*_one_deep_one_shallow())
    assert len(calls) == 1 and 32 <= min(calls[0][:2]) <= 48
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())


def test_bad_view_settings_are_refused_with_the_key_named():
    from trainer.guesses import ViewParams

    with pytest.raises(ValueError, match="train.coarse_view"):
        ViewParams.from_dict({"factors": (0.5, 2.0)})
