"""The training objective term by term: loss formulas, what each network sees, the R1 weight and
its lazy-step scaling, the learning-rate schedule, the VGG loss's taps and normalisation, bf16."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from trainer import perceptual as P
from trainer.discriminator import PatchDiscriminator
from trainer.gan_step import GANStep
from trainer.losses import d_adversarial, g_adversarial, r1_penalty
from trainer.train import lr_factor

# ------------------------------------------------------------------ adversarial formulas


def test_generator_adversarial_loss_is_non_saturating():
    # Eq. 5: -E[log sigmoid(D(x_hat))]; at logit 0 that is log 2, and it stays finite and
    # steep for confident fakes (the saturating log(1 - sigmoid) form would flatten there).
    logits = torch.tensor([-30.0, -2.0, 0.0, 1.5, 8.0], requires_grad=True)
    loss = g_adversarial(logits)
    expected = -torch.log(torch.sigmoid(logits.detach().double())).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert g_adversarial(torch.zeros(3)).item() == pytest.approx(math.log(2), rel=1e-6)
    loss.backward()
    assert logits.grad[0].item() == pytest.approx(-1 / 5, rel=1e-4)  # d/dl softplus(-l) -> -1 at l << 0


def test_discriminator_adversarial_loss_formula():
    # Eq. 6: -E[log sigmoid(D(x))] - E[log(1 - sigmoid(D(x_hat)))].
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-3.0, 0.0, 1.0, 4.0])
    s_r, s_f = torch.sigmoid(real.double()), torch.sigmoid(fake.double())
    expected = -torch.log(s_r).mean() - torch.log(1 - s_f).mean()
    assert d_adversarial(real, fake).item() == pytest.approx(expected.item(), rel=1e-6)


# ------------------------------------------------------------------ learning-rate schedule

def test_lr_warms_up_linearly_then_decays_by_cosine():
    lr, start, low, warm, total = 4e-4, 4e-5, 1e-6, 10, 110

    def at(step: int) -> float:
        return lr * lr_factor(step, warm, total, lr, start, low)

    assert at(0) == pytest.approx(start)
    assert at(5) == pytest.approx(start + (lr - start) * 0.5)
    assert at(10) == pytest.approx(lr)
    assert at(35) == pytest.approx(low + (lr - low) * 0.5 * (1 + math.cos(math.pi * 0.25)))
    assert at(60) == pytest.approx((lr + low) / 2)
    assert at(110) == pytest.approx(low)
    assert at(500) == pytest.approx(low)  # stays at the floor past the end
    warmup = [at(s) for s in range(11)]
    decay = [at(s) for s in range(10, 111)]
    assert all(a < b for a, b in itertools.pairwise(warmup))
    assert all(a > b for a, b in itertools.pairwise(decay))
    assert lr_factor(0, 0, 100, lr, start, low) == pytest.approx(1.0)  # no warm-up: starts at lr


# ------------------------------------------------------------------ what each term sees

class LinearD(nn.Module):
    """D(x) = sum_c w_c x_c per pixel, recording every input: a discriminator whose R1 is known
    in closed form (||grad_x mean_pixels D||^2 = sum(w^2) / (H*W))."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor):
        return self.run(x)

    def run(self, x: torch.Tensor):
        self.seen.append(x.detach().clone())
        f = x * self.w
        return f.sum(1, keepdim=True), [f]


class ConstantG(nn.Module):
    """Predicts 0.25 everywhere: the raw prediction differs from the composite outside the hole."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.full_like(image, 0.25) + self.bias


class SpyPerceptual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.seen.append((pred.detach().clone(), target.detach().clone()))
        return (pred - target).abs().mean()


def _inputs(h: int = 4, w: int = 4):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, h, w, generator=g) * 0.5 + 0.5  # never 0.25, the prediction
    mask = torch.zeros(2, 1, h, w)
    mask[0, :, :2] = 1
    mask[1, :, :, 1:3] = 1
    return image, mask


def _gan_step(D: nn.Module, G: nn.Module, perceptual, weights: dict, d_lr: float = 0.1):
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    og = torch.optim.SGD(G.parameters(), lr=0.1)
    od = torch.optim.SGD(D.parameters(), lr=d_lr)
    G, D, og, od = acc.prepare(G, D, og, od)
    base = {"adversarial": 1.0, "feature_matching": 1.0, "r1": 0.0, "r1_every": 1, "l1": 0.0, "perceptual": 1.0}
    return GANStep(acc, G, D, og, od, perceptual, {**base, **weights})


def test_discriminator_perceptual_and_feature_matching_see_the_composite(fresh_accelerate):
    image, mask = _inputs()
    composite = image * (1 - mask) + 0.25 * mask
    D, per = LinearD(), SpyPerceptual()
    out = _gan_step(D, ConstantG(), per, {})(image, mask)
    assert {"d_adv", "g_adv", "fm", "per"} <= set(out)
    # D step: real then composite in one batch; G step: the composite (adversarial + the fake
    # features of feature matching); the real features of feature matching: the image.
    assert len(D.seen) == 3
    assert torch.equal(D.seen[0], torch.cat([image, composite]))
    assert torch.equal(D.seen[1], composite)
    assert torch.equal(D.seen[2], image)
    assert len(per.seen) == 1
    assert torch.equal(per.seen[0][0], composite) and torch.equal(per.seen[0][1], image)


@pytest.mark.parametrize("gamma, every", [(10.0, 1), (10.0, 2), (4.0, 3)])
def test_r1_weight_and_lazy_step_scaling(fresh_accelerate, monkeypatch, gamma, every):
    # Only the R1 term moves D (the adversarial term is zeroed), so one SGD step scales w by
    # exactly 1 - lr * gamma/2 * every * 2/(H*W) on R1 steps and leaves it alone otherwise.
    monkeypatch.setattr("trainer.losses.d_adversarial", lambda r, f: 0.0 * (r.sum() + f.sum()))
    image, mask = _inputs(4, 4)
    D = LinearD()
    step = _gan_step(D, ConstantG(), None, {"r1": gamma, "r1_every": every, "feature_matching": 0.0, "perceptual": 0.0})
    lr, pixels = 0.1, 16
    for micro in range(2 * every):
        before = D.w.detach().clone()
        out = step(image, mask)
        if micro % every == 0:
            assert out["r1"] == pytest.approx(before.pow(2).sum().item() / pixels, rel=1e-5)
            factor = 1 - lr * gamma / 2 * every * 2 / pixels
            torch.testing.assert_close(D.w.detach(), before * factor, rtol=1e-5, atol=1e-7)
        else:
            assert "r1" not in out
            assert torch.equal(D.w.detach(), before)


# ------------------------------------------------------------------ perceptual loss

def test_vgg_loss_uses_its_taps_weights_and_imagenet_normalisation():
    # Eq. 7 written out: inputs normalised with the ImageNet mean/std, L1 between activations
    # at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 weighted 1/32, 1/16, 1/8, 1/4, 1.
    torch.manual_seed(0)
    loss = P.VGGPerceptualLoss("random")
    g = torch.Generator().manual_seed(1)
    pred, target = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    taps = {1: 1 / 32, 6: 1 / 16, 11: 1 / 8, 20: 1 / 4, 29: 1.0}
    a, b = (pred - mean) / std, (target - mean) / std
    expected = torch.zeros(())
    for i, layer in enumerate(loss.features):
        a, b = layer(a), layer(b)
        if i in taps:
            assert isinstance(layer, nn.ReLU)
            expected = expected + taps[i] * (a - b).abs().mean()
    assert i == 29  # the network stops at relu5_1
    with torch.no_grad():
        assert loss(pred, target).item() == pytest.approx(expected.item(), rel=1e-5)


# ------------------------------------------------------------------ bf16

def test_bf16_training_step(fresh_accelerate):
    # Under bf16 autocast the networks run in bf16, the weights stay fp32 and are updated,
    # the losses are finite, and R1 is computed in fp32 (equal to an fp32 recomputation).
    from accelerate import Accelerator

    from in2 import IN2, IN2Config

    acc = Accelerator(cpu=True, mixed_precision="bf16")
    torch.manual_seed(0)
    G = IN2(IN2Config.tiny())
    D = PatchDiscriminator(base=8, use_spectral_norm=False)
    og, od = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    G, D, og, od = acc.prepare(G, D, og, od)
    image, mask = _inputs(48, 40)
    d_before = {k: v.detach().clone() for k, v in D.state_dict().items()}
    g_before = [p.detach().clone() for p in G.parameters()]
    ref_d = PatchDiscriminator(base=8, use_spectral_norm=False)
    ref_d.load_state_dict(d_before)
    real = image.clone().requires_grad_(True)
    r1_fp32 = r1_penalty(ref_d(real)[0], real).item()

    dtypes = []
    hook = G.encoder.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    weights = {"adversarial": 1.0, "feature_matching": 0.1, "r1": 10.0, "r1_every": 1, "l1": 1.0, "perceptual": 1.0}
    out = GANStep(acc, G, D, og, od, P.VGGPerceptualLoss("random"), weights)(image, mask)
    hook.remove()
    assert dtypes == [torch.bfloat16]
    assert all(math.isfinite(v) for v in out.values())
    assert out["r1"] == pytest.approx(r1_fp32, rel=1e-5)
    assert all(p.dtype == torch.float32 for p in [*G.parameters(), *D.parameters()])
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters(), strict=True))
    assert any(not torch.equal(d_before[k], v) for k, v in D.state_dict().items())
