"""ONNX: the traceable kernels, `in2 export-onnx`, and the pipeline run by ONNX Runtime
against the torch one at odd sizes (known pixels bit-exact, the fill within 2/255)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from in2 import IN2, IN2Config, InpaintPipeline
from in2.errors import InputError, WeightsError
from in2.nn.attention import portable_na2d
from in2.nn.traceable import irfft2_ortho, rfft2_ortho, window_attention

ROOT = Path(__file__).resolve().parents[2]
# (height, width): 1x1, thin, odd, under and over min_size, 333x212 and 256x256 photos
SIZES = [(1, 1), (2, 5), (9, 17), (23, 31), (212, 333), (256, 256)]


def _trained_looking(config: IN2Config, seed: int = 0) -> IN2:
    """A tiny IN2 whose BatchNorm statistics and output head are not the initial ones, so every
    part of the graph changes the output."""
    torch.manual_seed(seed)
    model = IN2(config).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    torch.nn.init.normal_(model.decoder.to_rgb.weight, std=0.1)
    return model


def _hole(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A box and some scattered pixels; at least one hole pixel at any size."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(1, 1, height, width, generator=g) > 0.9).float()
    mask[..., height // 4 : height // 2 + 1, width // 3 : width // 2 + 1] = 1
    return mask


# -- the traceable kernels (no onnx needed) ---------------------------------------------------

@pytest.mark.parametrize("size", [(1, 1), (1, 6), (5, 1), (7, 9), (8, 8), (13, 6)])
def test_dft_by_products_equals_the_fft(size):
    x = torch.randn(2, 3, *size)
    spectrum = torch.fft.rfftn(x, dim=(-2, -1), norm="ortho")
    real, imag = rfft2_ortho(x)
    assert torch.allclose(real, spectrum.real, atol=1e-5) and torch.allclose(imag, spectrum.imag, atol=1e-5)
    a, b = torch.randn_like(real), torch.randn_like(real)  # any spectrum, Hermitian or not
    expected = torch.fft.irfftn(torch.complex(a, b), s=size, dim=(-2, -1), norm="ortho")
    assert torch.allclose(irfft2_ortho(a, b, *size), expected, atol=1e-5)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (6, 11), (7, 7), (12, 9)])
def test_window_attention_equals_the_portable_path(size):
    q, k, v = (torch.randn(2, *size, 3, 8) for _ in range(3))
    for kernel in (3, 7, (5, 3)):
        assert torch.allclose(window_attention(q, k, v, kernel), portable_na2d(q, k, v, kernel), atol=1e-5)


# -- export and ONNX Runtime ------------------------------------------------------------------

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from in2.onnx_export import export_onnx  # noqa: E402 - after the importorskip that guards it
from in2.onnx_runtime import OnnxModel  # noqa: E402 - after the importorskip that guards it


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[IN2, Path]]:
    """Two tiny models in ONNX files: the smooth pre-fill with the attention body and three
    decoder levels, and the zero input with the FFC body and two levels."""
    folder = tmp_path_factory.mktemp("onnx")
    models = {
        "smooth": _trained_looking(IN2Config.tiny(hole_prefill="smooth", train_resolution=64)),
        "zeros": _trained_looking(IN2Config.tiny(use_attention_body=False, pyramid_levels=2, train_resolution=64), 1),
    }
    return {name: (model, export_onnx(model, folder / f"{name}.onnx")) for name, model in models.items()}


@pytest.mark.parametrize("name", ["smooth", "zeros"])
@pytest.mark.parametrize("size", SIZES)
def test_onnx_runtime_computes_the_torch_prediction(exported, name, size):
    model, path = exported[name]
    image, mask = torch.rand(1, 3, *size), _hole(*size)
    with torch.no_grad():
        expected = model(image, mask, decode_only=mask)
    got = OnnxModel(path)(image, mask, decode_only=mask)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 1e-4
    assert bool((got[mask.expand_as(got) == 0] == 0).all())  # nothing outside the region


def test_every_image_of_a_batch_keeps_its_own_region(exported):
    model, path = exported["smooth"]
    image = torch.rand(2, 3, 40, 29)
    mask = torch.cat([_hole(40, 29, 0), _hole(40, 29, 1)])
    with torch.no_grad():
        expected = model(image, mask, decode_only=mask)
    got = OnnxModel(path)(image, mask, decode_only=mask)
    assert (got - expected).abs().max() < 1e-4
    whole = OnnxModel(path)(image, mask)  # no region: every pixel decoded
    with torch.no_grad():
        assert (whole - model(image, mask)).abs().max() < 1e-4


def test_a_region_split_over_several_runs_gives_the_same_pixels(exported, monkeypatch):
    _, path = exported["smooth"]
    runner = OnnxModel(path)
    image, mask = torch.rand(1, 3, 48, 37), _hole(48, 37)
    once = runner(image, mask, decode_only=mask)
    calls = []
    monkeypatch.setattr(runner, "region_pixels", lambda: 50)
    split = runner(image, mask, decode_only=mask, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) > 2 and calls[-1][0] == calls[-1][1]
    assert (split - once).abs().max() < 1e-6


@pytest.mark.parametrize("size", [(1, 1), (9, 17), (212, 333), (256, 256)])
@pytest.mark.parametrize("blend", ["none", "seamless"])
def test_pipeline_on_onnx_runtime_matches_torch(exported, size, blend):
    """Known pixels bit-exact; the fill within 2/255 of torch's on at least 99% of the hole."""
    model, path = exported["smooth"]
    height, width = size
    image, mask = torch.rand(3, height, width), _hole(height, width)[0, 0]
    torch_out = InpaintPipeline(model, device="cpu")(image, mask, blend=blend, crop="off").image
    onnx_pipe = InpaintPipeline.from_onnx(path)
    assert onnx_pipe.backend == "onnx" and "ONNX Runtime" in onnx_pipe.describe()
    onnx_out = onnx_pipe(image, mask, blend=blend, crop="off").image
    hole = mask.bool().expand(3, -1, -1)
    assert torch.equal(onnx_out[~hole], image[~hole])
    close = ((onnx_out * 255).round() - (torch_out * 255).round()).abs()[hole] <= 2
    assert close.float().mean() >= 0.99


def test_a_wide_hole_goes_coarse_to_fine_on_onnx_runtime_as_on_torch(exported):
    """A hole wider than the pipeline's reach: the coarse passes and the guess run through ONNX
    Runtime too, and give torch's fill."""
    model, path = exported["smooth"]
    image, mask = torch.rand(3, 160, 192), torch.zeros(160, 192)
    mask[10:150, 20:180] = 1
    torch_pipe, onnx_pipe = InpaintPipeline(model, device="cpu"), InpaintPipeline.from_onnx(path)
    torch_pipe.reach = onnx_pipe.reach = 32  # as weights with coarse_reach 32 set it
    torch_out = torch_pipe(image, mask, crop="off").image
    onnx_out = onnx_pipe(image, mask, crop="off").image
    assert torch.equal(onnx_out[:, mask == 0], image[:, mask == 0])
    close = ((onnx_out * 255).round() - (torch_out * 255).round()).abs()[:, mask > 0] <= 2
    assert close.float().mean() >= 0.99


def test_export_leaves_the_model_and_existing_files_alone(tmp_path):
    model = _trained_looking(IN2Config.tiny())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = export_onnx(model, tmp_path / "m.onnx")
    assert not model.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["x", "region"]
    assert any(p.key == "in2_config" for p in proto.metadata_props)
    stamp = path.stat().st_mtime_ns
    with pytest.raises(InputError, match="already exists"):
        export_onnx(model, path)
    assert path.stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="opset"):
        export_onnx(model, tmp_path / "other.onnx", opset=11)
    with pytest.raises(InputError, match=".onnx"):
        export_onnx(model, tmp_path / "other.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_files_that_are_not_exports_get_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        OnnxModel(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="in2 export-onnx"):
        OnnxModel(junk)
    with pytest.raises(InputError, match="own weights"):
        InpaintPipeline.load("some/weights", onnx=junk)
    with pytest.raises(InputError, match="CPU"):
        InpaintPipeline.load(device="cuda", onnx=junk)


def test_the_command_line_exports_and_inpaints(tiny_weights, tmp_path, capsys):
    from in2.cli import main

    out = tmp_path / "tiny.onnx"
    assert main(["export-onnx", str(out), "--weights", str(tiny_weights), "-q"]) == 0
    assert main(["export-onnx", str(out), "--weights", str(tiny_weights)]) == 2
    assert "already exists" in capsys.readouterr().err
    photo = Image.open(ROOT / "examples" / "grace_hopper.jpg").convert("RGB").resize((61, 47))
    photo.save(tmp_path / "photo.png")
    hole = np.zeros((47, 61), np.uint8)
    hole[10:30, 20:40] = 255
    Image.fromarray(hole).save(tmp_path / "mask.png")
    args = [str(tmp_path / "photo.png"), str(tmp_path / "mask.png"), "-q"]
    assert main(["inpaint", *args, "-o", str(tmp_path / "onnx.png"), "--onnx", str(out)]) == 0
    assert main(["inpaint", *args, "-o", str(tmp_path / "torch.png"), "--weights", str(tiny_weights)]) == 0
    a, b = (np.asarray(Image.open(tmp_path / f"{n}.png")).astype(int) for n in ("onnx", "torch"))
    known = hole == 0
    assert (a[known] == np.asarray(photo)[known]).all()
    assert (np.abs(a - b)[~known] <= 2).mean() >= 0.99
    assert main(["inpaint", *args, "-o", str(tmp_path / "x.png"), "--onnx", str(out), "--weights", "w"]) == 2
    # folders: the batch runner loads the same file
    (tmp_path / "photos").mkdir()
    (tmp_path / "masks").mkdir()
    photo.save(tmp_path / "photos" / "a.png")
    Image.fromarray(hole).save(tmp_path / "masks" / "a.png")
    assert main(["batch", str(tmp_path / "photos"), str(tmp_path / "masks"), "-o", str(tmp_path / "out"),
                 "--onnx", str(out), "-q"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png")), a.astype(np.uint8))


def test_the_core_runs_without_onnx_installed(tmp_path):
    """onnx and onnxruntime are an optional extra: without them everything else imports and
    the ONNX entry points say how to install them."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('onnx', 'onnxruntime'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import in2, in2.pipeline, in2.cli, in2.onnx_runtime, in2.onnx_export\n"
        "from in2 import InpaintPipeline, IN2, IN2Config\n"
        "from in2.errors import InputError\n"
        "for call in (lambda: InpaintPipeline.from_onnx('x.onnx'),\n"
        "             lambda: in2.onnx_export.export_onnx(IN2(IN2Config.tiny()), 'x.onnx')):\n"
        "    try:\n"
        "        call()\n"
        "    except InputError as exc:\n"
        "        assert '[onnx]' in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError('no error')\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_the_benchmark_has_an_onnx_runtime_column(capsys):
    from in2.bench.latency import main as bench

    assert bench(["--device", "cpu", "--config", "tiny", "--sizes", "40x24", "--compare", "lama", "--onnx",
                  "--skip", "attention,decoder", "--repeats", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "median s" in line)
    assert "LaMa s" in header and "ORT s" in header and "ORT/torch" in header and "ORT/LaMa" in header
    row = next(line for line in out.splitlines() if line.strip().startswith("40x24"))
    # size, hole (shape and area), dtype, median, runs, peak, then LaMa's three and ORT's three
    fields = row.split()
    assert len(fields) == 13 and all(float(v) > 0 for v in fields[-3:])


@pytest.mark.slow
def test_a_default_size_model_exports_and_matches_torch(tmp_path):
    """The paper's size (15.26M parameters): 333x212 and 256x256 against torch in fp32."""
    model = _trained_looking(IN2Config())
    runner = OnnxModel(export_onnx(model, tmp_path / "default.onnx"))
    for height, width in [(212, 333), (256, 256)]:
        image, mask = torch.rand(1, 3, height, width), _hole(height, width)
        with torch.no_grad():
            expected = model(image, mask, decode_only=mask)
        assert (runner(image, mask, decode_only=mask) - expected).abs().max() < 1e-4
