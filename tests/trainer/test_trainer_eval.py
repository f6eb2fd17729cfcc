"""Evaluation protocol: Table-5 output, fixed masks, fill baselines, metrics gathered over 2 ranks."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from in2 import IN2, IN2Config
from trainer.eval.compare_fills import mean_colour_fill
from trainer.eval.protocol import collect_images, table5
from trainer.eval.protocol import main as evaluate_main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("w") / "export"
    IN2(IN2Config.tiny(train_resolution=32)).save_pretrained(out)
    return out


def test_evaluate_writes_table5_csv_and_fixed_masks(weights, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["--weights", str(weights), "--data", "synthetic", "--limit", "2", "--synthetic-size", "64",
            "--settings", "32x32,24x40", "--out", str(out)]
    rows = evaluate_main(args)
    assert [(r["model"], r["setting"]) for r in rows] == [
        ("IN2 (native)", "32x32"), ("IN2 (resize)", "32x32"), ("IN2 (native)", "24x40"), ("IN2 (resize)", "24x40")]
    assert all(r["n"] == 2 and 0 < r["ssim"] <= 1 and r["masked_psnr"] < r["psnr"] for r in rows)
    text = (out / "results.md").read_text()
    assert "| Settings | 32×32 PSNR↑ | SSIM↑ | LPIPS↓ | 24×40 PSNR↑ | SSIM↑ | LPIPS↓ |" in text
    assert "| IN2 (resize) |" in text and "Hole-only PSNR" in text
    assert text.split("\n", 2)[2] in capsys.readouterr().out
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    manifest = json.loads((out / "masks" / "24x40" / "manifest.json").read_text())
    first = manifest["settings"]["24x40"]["masks"][0]["sha256"]
    # A second run reuses the files on disk: same masks, same numbers.
    again = evaluate_main(args)
    assert [r["psnr"] for r in again] == [r["psnr"] for r in rows]
    assert json.loads((out / "masks" / "24x40" / "manifest.json").read_text())["settings"]["24x40"]["masks"][0][
        "sha256"] == first


def test_folder_data_and_limits(weights, tmp_path):
    from PIL import Image

    from trainer.synthetic_faces import render_face

    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(3):
        Image.fromarray(render_face(i, 48, 48)).save(data / f"{i}.png")
    assert len(collect_images(str(data), 2)) == 2
    rows = evaluate_main(["--weights", str(weights), "--data", str(data), "--limit", "2", "--max-settings", "1",
                          "--modes", "native", "--settings", "40x40,32x32", "--out", str(tmp_path / "e")])
    assert len(rows) == 1 and rows[0]["setting"] == "40x40" and rows[0]["n"] == 2


def test_table5_shape_for_eight_settings():
    from trainer.masks import EVAL_SETTINGS

    rows = [{"model": "IN2 (native)", "setting": f"{w}x{h}", "n": 1, "psnr": 30.0, "ssim": 0.9,
             "lpips": float("nan"), "masked_psnr": 20.0} for h, w in EVAL_SETTINGS]
    text = table5(rows, EVAL_SETTINGS)
    headers = [line for line in text.splitlines() if line.startswith("| Settings")]
    assert len(headers) == 2  # two tables of four settings, like Table 5 and its appendix companion
    assert "576×1024 PSNR↑" in headers[0] and "384×683 PSNR↑" in headers[1]  # width x height
    assert "| IN2 (native) | 30.000 | 0.900 | n/a |" in text


def test_mean_colour_fill():
    img = torch.zeros(1, 3, 4, 4)
    img[:, 0] = 0.5
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1
    img[..., 0, 0] = 1.0  # hidden pixel must not leak into the mean
    out = mean_colour_fill(img, mask)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.5, 0.0, 0.0]))
    assert torch.equal(out[..., 1:, :], img[..., 1:, :])


@pytest.mark.slow  # two ranks under a launcher
def test_evaluate_two_ranks_gathers_every_image_once(weights, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), ACCELERATE_USE_CPU="true")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29519",
           str(ROOT / "trainer" / "evaluate.py"), "--weights", str(weights), "--data", "synthetic", "--limit", "3",
           "--synthetic-size", "48", "--settings", "32x32", "--modes", "native", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "2 process(es)" in proc.stdout
    with open(out / "results.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["n"] == "3"  # 3 images over 2 ranks: padding dropped by gather_for_metrics
    single = evaluate_main(["--weights", str(weights), "--data", "synthetic", "--limit", "3", "--synthetic-size", "48",
                            "--settings", "32x32", "--modes", "native", "--out", str(tmp_path / "one"),
                            "--masks", str(out / "masks")])
    assert float(row["psnr"]) == pytest.approx(single[0]["psnr"], abs=1e-4)
    assert np.isfinite(float(row["ssim"]))


def test_score_rounds_both_images_to_what_a_png_holds():
    from trainer.eval.metrics import score

    gen = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 24, 24, generator=gen)
    output = target + 0.3 * torch.rand(2, 3, 24, 24, generator=gen) - 0.15
    mask = torch.zeros(2, 1, 24, 24)
    mask[..., 6:18, 6:18] = 1
    rounded = score(torch.round(output.clamp(0, 1) * 255) / 255, torch.round(target * 255) / 255, mask)
    scores = score(output, target, mask)
    assert set(scores) == {"psnr", "ssim", "masked_psnr"}  # lpips only when a model is given
    for name, value in scores.items():
        assert value.shape == (2,) and torch.equal(value, rounded[name])
    assert bool((scores["masked_psnr"] < scores["psnr"]).all())  # the error sits in the hole
    assert score(target, target, mask)["psnr"].tolist() == [100.0, 100.0]
    assert score(output, target, mask, lpips=lambda a, b: (a - b).abs().mean((1, 2, 3)))["lpips"].shape == (2,)


def test_validation_and_evaluation_score_alike():
    from PIL import Image

    from in2.compositing import paste_into_hole
    from trainer.data import ValidationSet
    from trainer.eval.protocol import COLUMNS, score_row
    from trainer.synthetic_faces import render_face
    from trainer.validation import validate

    class Faces:
        def __len__(self) -> int:
            return 3

        def get(self, i: int) -> Image.Image:
            return Image.fromarray(render_face(i, 48, 48))

    vset = ValidationSet(Faces(), 3, [(40, 40), (32, 48)], seed=1)
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny()).eval()
    with torch.no_grad():
        rows = [score_row(paste_into_hole(x[None], model(x[None], m[None]), m[None]), x[None], m[None], None)
                for x, m in vset.items]
    means = {name: sum(r[i] for r in rows) / len(rows) for i, name in enumerate(COLUMNS) if name != "lpips"}
    assert validate(model, vset, torch.device("cpu"), None) == pytest.approx({f"val_{k}": v for k, v in means.items()})


def test_record_keeps_other_keys_and_writes_no_infinity(tmp_path):
    import json

    from trainer.eval.record import record

    path = tmp_path / "metrics.json"
    record(path, "parts/lfw", [{"fill": "IN2 native", "hole_psnr": 19.5}], "cmd a")
    record(path, "parts/utk", [{"fill": "original photo", "hole_psnr": float("inf")}], "cmd b")
    data = json.loads(path.read_text())  # strict JSON: no Infinity token
    assert data["parts/lfw"] == {"command": "cmd a", "rows": [{"fill": "IN2 native", "hole_psnr": 19.5}]}
    assert data["parts/utk"]["rows"][0]["hole_psnr"] is None
    assert not list(tmp_path.glob("*.part"))
