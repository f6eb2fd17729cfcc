"""Trainer objective and metrics: PSNR/SSIM against reference formulas, VGG-19 loading rules,
R1/feature matching, the G/D step under gradient accumulation, overfitting, export round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from in2 import IN2, IN2Config
from in2.errors import WeightsError
from trainer import perceptual as P
from trainer.discriminator import PatchDiscriminator
from trainer.eval.metrics import masked_psnr, psnr, quantize, ssim
from trainer.export import export_generator, model_card, write_model_card
from trainer.losses import feature_matching, r1_penalty

# ------------------------------------------------------------------ metrics


def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004 written out window by window (Gaussian 11, sigma 1.5, valid region)."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - 10):
            for j in range(x.shape[2] - 10):
                a, b = x[c, i:i + 11, j:j + 11], y[c, i:i + 11, j:j + 11]
                ma, mb = (w * a).sum(), (w * b).sum()
                va, vb = (w * a * a).sum() - ma**2, (w * b * b).sum() - mb**2
                cov = (w * a * b).sum() - ma * mb
                vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_psnr_ssim_match_reference_formulas():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 20, 23, generator=g)
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    assert torch.allclose(psnr(x, y).double(), 10 * torch.log10(1 / mse), atol=1e-4)
    for b in range(2):
        assert ssim(x, y)[b].item() == pytest.approx(_ssim_reference(x[b].double().numpy(), y[b].double().numpy()),
                                                     abs=1e-5)
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0])
    assert psnr(x, x).tolist() == [100.0, 100.0]


def test_known_values_and_masked_psnr():
    a = torch.zeros(1, 3, 8, 8)
    b = torch.full((1, 3, 8, 8), 0.1)
    assert psnr(a, b).item() == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1
    c = a.clone()
    c[..., :4, :] = 0.1  # error only inside the hole
    assert masked_psnr(c, a, mask).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr(c, a).item() == pytest.approx(20 + 10 * math.log10(2), abs=1e-4)
    q = quantize(torch.tensor([-0.2, 0.5, 0.50197, 1.3]))
    assert torch.allclose(q * 255, torch.tensor([0.0, 128.0, 128.0, 255.0]))


# ------------------------------------------------------------------ VGG-19 loading

def _fake_vgg_file(path: Path, fmt: str) -> dict[str, torch.Tensor]:
    """A torchvision-layout file (random values): features.* plus classifier.* like the real one."""
    torch.manual_seed(1)
    sd = {f"features.{k}": v.clone() for k, v in P.vgg19_features(36).state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(4, 4)
    if fmt == "pth":
        torch.save(sd, path)
    else:
        from safetensors.torch import save_file

        save_file(sd, str(path))
    return sd


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.delenv("IN2_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def _hf_cache_file(root: Path) -> Path:
    snap = root / "hf" / "models--timm--vgg19.tv_in1k" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (root / "hf" / "models--timm--vgg19.tv_in1k" / "refs").mkdir()
    (root / "hf" / "models--timm--vgg19.tv_in1k" / "refs" / "main").write_text("a" * 40)
    return snap / "model.safetensors"


def test_vgg_missing_fails_loudly_with_file_name(clean_env):
    with pytest.raises(WeightsError) as e:
        P.VGGPerceptualLoss("imagenet")
    msg = str(e.value)
    assert "vgg19-dcbb9e9d.pth" in msg and str(clean_env / "torch" / "hub" / "checkpoints") in msg
    assert "IN2_VGG19_WEIGHTS" in msg
    with pytest.raises(WeightsError, match="does not exist"):
        P.find_weights(P.VGG19, clean_env / "nope.pth")


def test_vgg_search_order(clean_env, monkeypatch):
    root = clean_env
    hf = _hf_cache_file(root)
    _fake_vgg_file(hf, "safetensors")
    assert P.find_weights(P.VGG19) == hf  # 4. HF cache
    hub = root / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    hub.parent.mkdir(parents=True)
    _fake_vgg_file(hub, "pth")
    assert P.find_weights(P.VGG19) == hub  # 3. torch hub cache beats HF
    env = root / "env.safetensors"
    _fake_vgg_file(env, "safetensors")
    monkeypatch.setenv("IN2_VGG19_WEIGHTS", str(env))
    assert P.find_weights(P.VGG19) == env  # 2. env var beats caches
    explicit = root / "explicit.pth"
    _fake_vgg_file(explicit, "pth")
    assert P.find_weights(P.VGG19, explicit) == explicit  # 1. explicit beats all


def test_vgg_loads_strictly_pth_with_weights_only(clean_env, monkeypatch):
    path = clean_env / "vgg.pth"
    sd = _fake_vgg_file(path, "pth")
    calls = []
    real_load = torch.load

    def spy(*a, **k):
        calls.append(k.get("weights_only"))
        return real_load(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    loss = P.VGGPerceptualLoss("imagenet", weights=path)
    assert calls == [True]
    assert torch.equal(loss.features[0].weight, sd["features.0.weight"])
    assert loss.source == str(path)
    # Tap indices are the ReLUs after conv1_1, 2_1, 3_1, 4_1, 5_1.
    convs = [i for i, m in enumerate(loss.features) if isinstance(m, torch.nn.Conv2d)]
    assert [convs[k] + 1 for k in (0, 2, 4, 8, 12)] == list(P.VGG19_TAPS)
    bad = clean_env / "bad.safetensors"
    from safetensors.torch import save_file

    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(bad))
    with pytest.raises(WeightsError, match="missing"):
        P.VGGPerceptualLoss("imagenet", weights=bad)
    (clean_env / "trunc.pth").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="cannot read"):
        P.VGGPerceptualLoss("imagenet", weights=clean_env / "trunc.pth")


def test_perceptual_random_backbone_grad_flows_to_prediction_only():
    loss = P.VGGPerceptualLoss("random")
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    y = torch.rand(1, 3, 32, 32)
    value = loss(x, y)
    value.backward()
    assert value.item() > 0 and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())
    assert loss(y, y).item() == 0


def test_build_perceptual_auto_uses_pretrained_efficientnet_never_random(clean_env):
    from trainer.models import build_perceptual

    cfg = {"perceptual": 1.0, "perceptual_backbone": "auto"}
    assert "EfficientNet-Lite0" in build_perceptual(cfg).source
    assert build_perceptual({"perceptual": 1.0, "perceptual_backbone": "random"}).source == "random"
    with pytest.raises(WeightsError):
        build_perceptual({"perceptual": 1.0, "perceptual_backbone": "imagenet"})
    assert build_perceptual({"perceptual": 0.0, "perceptual_backbone": "imagenet"}) is None


# ------------------------------------------------------------------ losses

def test_r1_penalty_matches_analytic_gradient():
    # D(x) = sum(w * x) has grad w everywhere: ||grad||^2 = sum(w^2) per sample.
    w = torch.randn(1, 3, 4, 4, requires_grad=True)
    x = torch.rand(5, 3, 4, 4, requires_grad=True)
    logits = (w * x).flatten(1).sum(1)
    r1 = r1_penalty(logits, x)
    assert r1.item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)
    r1.backward()  # differentiable w.r.t. D's weights (create_graph)
    assert torch.allclose(w.grad, 2 * w.detach())
    # Patch logits: the image score is their mean, so the penalty does not grow with patch count.
    x2 = torch.rand(2, 3, 4, 4, requires_grad=True)
    patches = (w * x2).flatten(1).sum(1)[:, None, None, None].expand(2, 1, 6, 6)
    assert r1_penalty(patches, x2).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)


def test_discriminator_learns_under_r1_gamma_10():
    # Real faces vs. grey-filled holes: D must separate them despite R1 (gamma 10).
    from trainer.losses import d_adversarial
    from trainer.masks import training_mask
    from trainer.synthetic_faces import render_face

    imgs = torch.stack([torch.from_numpy(render_face(i, 48, 48)).permute(2, 0, 1).float() / 255 for i in range(8)])
    holes = torch.stack([torch.from_numpy(training_mask(0, 0, i, 48, 48)[None]).float() for i in range(8)])
    fake = imgs * (1 - holes) + 0.5 * holes
    torch.manual_seed(0)
    D = PatchDiscriminator(base=16)
    opt = torch.optim.Adam(D.parameters(), 1e-3)
    for _ in range(40):
        real = imgs.clone().requires_grad_(True)
        logits, _ = D(torch.cat([real, fake]))
        r, f = logits.chunk(2)
        real_logits, _ = D(real)
        loss = d_adversarial(r, f) + 10 / 2 * r1_penalty(real_logits, real)
        opt.zero_grad()
        loss.backward()
        opt.step()
    logits, _ = D(torch.cat([imgs, fake]))
    r, f = logits.chunk(2)
    assert d_adversarial(r, f).item() < 1.3 and r.mean() > f.mean()


def test_feature_matching_detaches_real():
    # Gradient reaches the fake branch only: the real activations are targets, not variables.
    D = PatchDiscriminator(base=8)
    real = torch.rand(2, 3, 32, 32, requires_grad=True)
    fake = torch.rand(2, 3, 32, 32, requires_grad=True)
    _, ff = D(fake)
    _, rf = D(real)
    fm = feature_matching(ff, rf)
    fm.backward()
    assert fake.grad.abs().sum() > 0
    assert real.grad is None
    # Eq. 8 itself: the mean over layers of each layer's mean absolute difference.
    expected = sum((f - r).abs().mean() for f, r in zip(ff, rf, strict=True)) / len(ff)
    assert fm.item() == pytest.approx(expected.item(), rel=1e-6)
    logits, feats = D(torch.rand(1, 3, 40, 72))
    assert logits.shape[1] == 1 and len(feats) == 4


# ------------------------------------------------------------------ the step, accumulation, overfitting

def _step_setup(accum: int, l1: float = 0.0, perceptual: bool = False, lr: float = 1e-3):
    from accelerate import Accelerator

    from trainer.gan_step import GANStep

    acc = Accelerator(cpu=True, gradient_accumulation_steps=accum)
    torch.manual_seed(0)
    G = IN2(IN2Config.tiny())
    D = PatchDiscriminator(base=8)
    og = torch.optim.Adam(G.parameters(), lr=lr)
    od = torch.optim.Adam(D.parameters(), lr=lr)
    G, D, og, od = acc.prepare(G, D, og, od)
    w = {"adversarial": 1.0, "feature_matching": 0.1, "r1": 10.0, "r1_every": 1, "l1": l1, "perceptual": 1.0}
    per = P.VGGPerceptualLoss("random") if perceptual else None
    return acc, G, D, GANStep(acc, G, D, og, od, per, w)


def _batch(n=2, h=32, w=32, seed=0):
    from trainer.masks import training_mask
    from trainer.synthetic_faces import render_face

    img = torch.stack([torch.from_numpy(render_face(seed + i, h, w)).permute(2, 0, 1).float() / 255 for i in range(n)])
    mask = torch.stack([torch.from_numpy(training_mask(0, 0, seed + i, h, w)[None]).float() for i in range(n)])
    return img, mask


def test_discriminator_and_generator_step_with_accumulation(fresh_accelerate):
    acc, G, D, step = _step_setup(accum=2, perceptual=True)
    img, mask = _batch()
    d0 = [p.detach().clone() for p in D.parameters()]
    g0 = [p.detach().clone() for p in G.parameters()]
    out = step(img, mask)
    assert {"d_adv", "r1", "g_adv", "fm", "per", "g_total"} <= set(out)
    assert not acc.sync_gradients
    assert all(torch.equal(a, b) for a, b in zip(d0, D.parameters(), strict=True))  # accumulating, no step yet
    step(img, mask)
    assert acc.sync_gradients
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters(), strict=True)), "D never stepped"
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters(), strict=True)), "G never stepped"
    assert all(p.requires_grad for p in D.parameters())  # unfrozen after the G step


def test_loss_decreases_when_overfitting(fresh_accelerate):
    acc, G, D, step = _step_setup(accum=1, l1=10.0, lr=2e-3)
    img, mask = _batch(n=4, h=32, w=32, seed=3)
    l1 = [step(img, mask)["l1"] for _ in range(40)]
    assert np.mean(l1[-5:]) < 0.7 * np.mean(l1[:5]), l1


# ------------------------------------------------------------------ export and model card

@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_export_round_trip(tmp_path, dtype):
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny(train_resolution=64)).eval()
    out = export_generator(model, tmp_path / dtype, dtype)
    assert {"config.json", "model.safetensors"} <= {p.name for p in out.iterdir()}
    loaded = IN2.from_pretrained(out).eval()
    assert loaded.config == model.config
    x = torch.rand(1, 3, 24, 40)
    m = (torch.rand(1, 1, 24, 40) > 0.7).float()
    with torch.no_grad():
        a, b = model(x, m), loaded(x, m)
    assert torch.allclose(a, b, atol=0 if dtype == "fp32" else 2e-2)


def test_model_card_states_data_steps_metrics(tmp_path):
    info = {"title": "IN2 demo", "data": "1000 synthetic faces", "steps": 1234, "epochs": 2.5,
            "images_seen": 5000, "hardware": "1 x cpu", "train_time": "17.0 min", "perceptual": "random",
            "metrics": {"val_psnr": 25.4321}, "notes": ["trained on drawings, not photos"], "config": {"seed": 0}}
    text = model_card(info)
    for needle in ("1000 synthetic faces", "1234 optimizer steps", "val_psnr | 25.432", "trained on drawings",
                   "library_name: in2", "17.0 min"):
        assert needle in text
    assert write_model_card(tmp_path, info).read_text() == text


def test_ffc_baseline_any_size_one_step_and_export(fresh_accelerate, tmp_path):
    from accelerate import Accelerator

    from in2 import IN2, InpaintPipeline, WeightsError, load_model
    from in2.nn.baseline import FFCBaseline
    from trainer.gan_step import GANStep

    torch.manual_seed(0)
    G = FFCBaseline({"base_channels": 8, "num_blocks": 1, "train_resolution": 32})
    assert G(torch.rand(1, 3, 27, 45), torch.ones(1, 1, 27, 45)).shape == (1, 3, 27, 45)
    acc = Accelerator(cpu=True)
    D = PatchDiscriminator(base=8)
    og, od = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    G, D, og, od = acc.prepare(G, D, og, od)
    w = {"adversarial": 1.0, "feature_matching": 0.1, "r1": 10.0, "l1": 1.0, "perceptual": 0.0}
    before = [p.detach().clone() for p in G.parameters()]
    GANStep(acc, G, D, og, od, None, w)(*_batch())
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters(), strict=True))
    out = export_generator(G, tmp_path / "ffc")
    assert json.loads((out / "config.json").read_text())["model_type"] == "ffc_baseline"
    loaded, _ = load_model(out)  # the one loader: the config's model_type picks the class
    assert isinstance(loaded, FFCBaseline)
    with pytest.raises(WeightsError, match="ffc_baseline"):
        IN2.from_pretrained(out)
    img, mask = _batch(n=1, h=40, w=24)
    result = InpaintPipeline(loaded, device="cpu")(img, mask, mode="resize").image
    assert result.shape == img.shape and torch.equal(result[mask.expand_as(img) == 0], img[mask.expand_as(img) == 0])
