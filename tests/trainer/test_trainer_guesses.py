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


def test_a_training_step_starts_from_the_guess(fresh_accelerate):
    """With share 1 the generator is called with a guess; the step runs and its losses are finite."""
    from accelerate import Accelerator

    from in2 import IN2, IN2Config
    from trainer.discriminator import PatchDiscriminator
    from trainer.gan_step import GANStep

    torch.manual_seed(0)
    G, D = IN2(IN2Config.tiny(hole_prefill="smooth")), PatchDiscriminator(base=8, num_down=2)
    acc = Accelerator(cpu=True)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    G, D, opt_g, opt_d = acc.prepare(G, D, opt_g, opt_d)
    seen = []
    forward = G.forward

    def spy(image, mask, **kwargs):
        seen.append(kwargs.get("guess") is not None)
        return forward(image, mask, **kwargs)

    G.forward = spy
    cfg = {"adversarial": 1.0, "feature_matching": 0.1, "r1": 0.0, "perceptual": 0.0, "l1": 1.0}
    step = GANStep(acc, G, D, opt_g, opt_d, None, cfg, hole_only=True, guesses=GuessParams(share=1.0))
    image, mask = _batch()
    out = step(image[:2], mask[:2])
    assert seen == [True] and all(torch.isfinite(torch.tensor(v)) for v in out.values())
