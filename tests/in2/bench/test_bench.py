"""The benchmark's own parts: holes of a requested area and the LaMa-Fourier yardstick."""

from __future__ import annotations

import pytest
import torch

from in2.bench.holes import HoleSpec, hole_mask, parse_holes
from in2.bench.latency import main as bench_main
from in2.nn.baseline import FFCBaseline, FFCBaselineConfig


def test_parse_holes_reads_shapes_areas_and_full() -> None:
    assert parse_holes("brush:0.05,spots:0.01,0.25,full") == [
        HoleSpec("brush", 0.05), HoleSpec("spots", 0.01), HoleSpec("brush", 0.25), HoleSpec("box", 1.0)
    ]


@pytest.mark.parametrize("text", ["blob:0.1", "brush:0", "brush:1.5", "spots:abc"])
def test_parse_holes_rejects_bad_items(text: str) -> None:
    with pytest.raises(ValueError, match="hole"):
        parse_holes(text)


@pytest.mark.parametrize("shape", ["brush", "spots", "box"])
@pytest.mark.parametrize("area", [0.01, 0.05, 0.25])
@pytest.mark.parametrize("size", [(512, 512), (301, 517)])
def test_hole_mask_covers_the_requested_area(shape: str, area: float, size: tuple[int, int]) -> None:
    mask = hole_mask(HoleSpec(shape, area), *size)
    assert mask.shape == (1, 1, *size)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    # strokes and spots stop at the first segment or spot past the target
    assert area <= mask.mean().item() <= area * 1.3 + 0.002


def test_hole_mask_is_seeded_and_full_is_full() -> None:
    spec = HoleSpec("brush", 0.05)
    assert torch.equal(hole_mask(spec, 200, 300, seed=3), hole_mask(spec, 200, 300, seed=3))
    assert not torch.equal(hole_mask(spec, 200, 300, seed=3), hole_mask(spec, 200, 300, seed=4))
    assert bool(hole_mask(HoleSpec("spots", 1.0), 40, 50).all())


def test_lama_reference_has_the_papers_size_and_keeps_odd_sizes() -> None:
    model = FFCBaseline().eval()
    assert 26.5e6 < sum(p.numel() for p in model.parameters()) < 27.5e6
    small = FFCBaseline(FFCBaselineConfig(base_channels=8, num_blocks=1)).eval()
    with torch.no_grad():
        out = small(torch.rand(2, 3, 37, 53), torch.zeros(1, 1, 37, 53))
    assert out.shape == (2, 3, 37, 53)
    assert bool(((out >= 0) & (out <= 1)).all())


@pytest.mark.slow  # each measurement runs in a fresh process
def test_bench_compare_lama_prints_the_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    bench_main(["--device", "cpu", "--config", "tiny", "--sizes", "40x24", "--hole", "spots:0.05,full",
                "--compare", "lama", "--skip", "attention,decoder", "--repeats", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "IN2/LaMa" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("40x24")]
    assert len(rows) == 2 and rows[1][1] == "full"
    assert all(float(row[-1]) > 0 for row in rows)


def test_precision_study_reports_difference_and_psnr(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    from PIL import Image

    from in2.bench.precision import main as precision_main

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((40, 48), np.uint8)
    mask[10:22, 12:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    precision_main([str(tmp_path / "photo.png"), str(tmp_path / "mask.png"), "--repeats", "1"])
    out = capsys.readouterr().out
    rows = {line.split(":")[0].strip(): line for line in out.splitlines() if "hole PSNR" in line}
    assert set(rows) == {"fp32", "bf16 matmuls", "bf16", "int8 decoder"}
    assert "vs fp32" in rows["bf16 matmuls"]
    assert "within 1/255" in rows["bf16"] and "within 1/255" in rows["int8 decoder"]


def test_peak_memory_counts_what_the_work_added() -> None:
    from in2.bench.peak_memory import PeakMemory

    with PeakMemory("cpu") as peak:
        block = torch.ones(16 << 20)  # 64 MiB, written so the pages are resident
        del block
    if peak.added is None:
        pytest.skip("this platform reports no peak resident set")
    assert peak.counter_reset and (64 << 20) * 0.9 <= peak.added < (64 << 20) * 2
    with PeakMemory("cpu") as idle:
        pass
    assert idle.added < 16 << 20  # a fresh counter: the earlier peak is not counted again


def test_bench_refuses_a_device_that_is_not_there(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        bench_main(["--device", "tpu"])
    assert info.value.code == 2 and "unknown device 'tpu'" in capsys.readouterr().err


@pytest.mark.slow  # each measurement runs in a fresh process
def test_bench_times_the_prefilled_model_of_the_bundled_weights(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    out_json = tmp_path / "bench.json"
    bench_main(
        [
            "--device",
            "cpu",
            "--config",
            "tiny",
            "--prefill",
            "smooth",
            "--sizes",
            "40x24",
            "--hole",
            "brush:0.25",
            "--skip",
            "attention,decoder",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--json",
            str(out_json),
        ]
    )
    report = json.loads(out_json.read_text())
    assert report["model"] and all(row.get("prefill") == "smooth" for row in report["model"])


@pytest.mark.slow  # each measurement runs in a fresh process
def test_bench_can_time_the_cpu_all_in_fp32(capsys: pytest.CaptureFixture[str]) -> None:
    bench_main(["--device", "cpu", "--config", "tiny", "--sizes", "40x24", "--hole", "brush:0.25", "--cpu-bf16", "off",
                "--skip", "attention,decoder", "--repeats", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "fp32 matrix products on this device: fp32" in out


@pytest.mark.slow  # each measurement runs in a fresh process
def test_gpu_script_writes_its_markdown_table_on_the_cpu(tmp_path) -> None:
    """The GPU run is prepared ahead of a GPU: on a CPU with a tiny size it writes every row."""
    from in2.bench.gpu import main as gpu_main

    out = tmp_path / "gpu.md"
    gpu_main(["--device", "cpu", "--config", "tiny", "--sizes", "40x24", "--dtypes", "fp32", "--compile", "off",
              "--repeats", "1", "--out", str(out)])
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 40x24")]
    assert [row.split("|")[2].strip() for row in rows] == ["brush 5%", "brush 25%", "full"]
    assert all(float(row.split("|")[9]) > 0 for row in rows)  # IN2 / LaMa


def test_gpu_script_lists_a_failed_cells_whole_reason_under_its_table(tmp_path, monkeypatch) -> None:
    """A compiler error's reason follows its first line: the table must not cut it off."""
    from in2.bench import gpu

    def compiler_fails(*args, **kwargs):
        raise RuntimeError("backend='inductor' raised:\nCppCompileError: C++ compile error | no compiler found")

    monkeypatch.setattr(gpu, "measure_cell", compiler_fails)
    out = tmp_path / "gpu.md"
    gpu.main(["--device", "cpu", "--config", "tiny", "--sizes", "40x24", "--dtypes", "fp32", "--compile", "on",
              "--repeats", "1", "--out", str(out)])
    text = out.read_text()
    assert "| 40x24 | brush 5% | fp32 | on | failed: RuntimeError (reason 1 below) |" in text
    assert ("1. 40x24, brush 5%, fp32, compile on: RuntimeError: backend='inductor' raised: CppCompileError: "
            "C++ compile error \\| no compiler found") in text
    assert "3. 40x24, full, fp32, compile on:" in text


def test_peak_memory_is_never_negative() -> None:
    from in2.bench.gpu import _row
    from in2.bench.holes import HoleSpec
    from in2.bench.peak_memory import PeakMemory

    peak = PeakMemory("cpu")
    peak.before, peak.peak = 2_000_000, 1_500_000  # a resident set that shrank during the work
    assert peak.added == 0
    row = _row("40x24", HoleSpec("box", 1.0), "fp32", False,
                {"in2_s": 0.01, "lama_s": 0.02, "cold_s": [0.0, 0.0], "peaks": [-0.4, 3.0]})
    assert "-0" not in row and "| 0 |" in row
