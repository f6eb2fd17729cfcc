"""One short GPU run for the README's GPU table: `python -m in2.bench.gpu --out gpu.md`.

Why one script: a GPU is lent for minutes at a time, so everything the README reports about
the GPU comes from a single prepared run that writes its table as it goes (a run cut short
still leaves every finished row). For each size, hole (brush 5%, brush 25%, full mask),
precision (fp32, bf16, fp16) and torch.compile off / on it times IN2 (the default model,
random weights, decoding only the hole as the pipeline does) and the LaMa-Fourier yardstick
(`in2.nn.baseline.FFCBaseline`) on the same input, in turns, and records the median latency and the peak
memory above weights and inputs (`in2.bench.peak_memory.PeakMemory`). With compile on, the encoder and
the attention body of IN2 (the dense parts; the hole-aware decoder has data-dependent shapes)
and the whole of LaMa run through `torch.compile`; the first call's time is reported as the
cold start. Cells left when `--budget-s` runs out are listed as not run; a cell that fails
says so in the table and its whole error message is listed under the table (a compiler's
reason comes after the first line of its message, so a cut-off message hides it).

On a CPU it runs too (`--device cpu --config tiny --sizes 64x48`), which is how it is tested.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..model import IN2
from ..model_types import PRESETS, preset_config
from ..nn.baseline import FFCBaseline
from ..options import DTYPES
from ..runtime import resolve_device
from .holes import HoleSpec, hole_mask
from .latency import parse_size, time_alternating
from .peak_memory import PeakMemory

SIZES = "512x512,1024x576,2048x2048,3840x2160"
HOLES = (HoleSpec("brush", 0.05), HoleSpec("brush", 0.25), HoleSpec("box", 1.0))
HEADER = ("| size | hole | dtype | compile | IN2 ms | IN2 peak MiB | LaMa ms | LaMa peak MiB | IN2 / LaMa "
          "| cold start s (IN2, LaMa) |\n| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")


def _peak_mib(fn: Callable[[], Any], device: torch.device) -> float | None:
    with PeakMemory(device) as peak:
        fn()
    return None if peak.added is None else peak.added / 2**20


def _timed_once(fn: Callable[[], Any], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure_cell(models: dict[str, torch.nn.Module], size: tuple[int, int], hole: HoleSpec, dtype: torch.dtype,
                 device: torch.device, repeats: int) -> dict[str, Any]:
    """Latency (median of `repeats`, IN2 and LaMa in turns) and peak memory of one cell."""
    height, width = size
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device, dtype)
    mask = hole_mask(hole, height, width).to(device, dtype)

    def run_in2() -> None:
        models["in2"](image, mask, chunk_size=1 << 20, decode_only=mask)

    def run_lama() -> None:
        models["lama"](image, mask)

    with torch.inference_mode():
        cold = [_timed_once(run_in2, device), _timed_once(run_lama, device)]  # compiles when compiled
        peaks = [_peak_mib(run_in2, device), _peak_mib(run_lama, device)]
        ours, theirs = time_alternating([run_in2, run_lama], device, 1, repeats, long_s=120.0)
    return {"in2_s": statistics.median(ours), "lama_s": statistics.median(theirs), "cold_s": cold, "peaks": peaks}


def failure_reason(exc: BaseException) -> str:
    """The exception's type and whole message on one Markdown-safe line."""
    text = " ".join(str(exc).split()).replace("|", "\\|")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _row(size: str, hole: HoleSpec, dtype: str, compiled: bool, cell: dict[str, Any] | str) -> str:
    head = f"| {size} | {hole.name} | {dtype} | {'on' if compiled else 'off'} |"
    if isinstance(cell, str):
        return head + f" {cell} | | | | | |\n"
    mib = ["-" if p is None else f"{max(p, 0.0):,.0f}" for p in cell["peaks"]]
    cold = ", ".join(f"{c:.1f}" for c in cell["cold_s"])
    return (head + f" {cell['in2_s'] * 1e3:.1f} | {mib[0]} | {cell['lama_s'] * 1e3:.1f} | {mib[1]} | "
            f"{cell['in2_s'] / cell['lama_s']:.2f} | {cold if compiled else '-'} |\n")


def _models(config: str, dtype: torch.dtype, device: torch.device, compiled: bool) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    in2 = IN2(preset_config(config)).eval().to(device, dtype)
    lama: torch.nn.Module = FFCBaseline().eval().to(device, dtype)
    if compiled:
        in2.encoder = torch.compile(in2.encoder)
        in2.body = torch.compile(in2.body)
        lama = torch.compile(lama)
    return {"in2": in2, "lama": lama}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m in2.bench.gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--config", default="default", choices=PRESETS)
    p.add_argument("--sizes", default=SIZES, help="comma-separated WxH")
    p.add_argument("--dtypes", default="bf16,fp32,fp16")
    p.add_argument("--compile", default="off,on", help="off, on or both (off,on)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget-s", type=float, default=480.0, help="start no new cell after this many seconds")
    p.add_argument("--out", default="bench_gpu.md", help="Markdown table, rewritten after every cell")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    dtypes = [d for d in args.dtypes.split(",") if d]
    compiles = [c == "on" for c in args.compile.split(",") if c]
    out = Path(args.out)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    text = (f"IN2 ({args.config} config) vs LaMa-Fourier on {name}, torch {torch.__version__}; median of "
            f"{args.repeats} after a warm-up, in turns; peak = memory above weights and inputs.\n\n" + HEADER)
    out.write_text(text)
    failures: list[str] = []  # the full reasons, listed under the table
    start = time.perf_counter()
    for compiled in compiles:  # every eager cell before any compiled one
        for dtype in dtypes:
            models = None
            for height, width in sizes:
                for hole in HOLES:
                    size = f"{width}x{height}"
                    if time.perf_counter() - start > args.budget_s:
                        cell: dict[str, Any] | str = "not run (budget)"
                    else:
                        try:
                            models = models or _models(args.config, DTYPES[dtype], device, compiled)
                            cell = measure_cell(models, (height, width), hole, DTYPES[dtype], device, args.repeats)
                        except Exception as exc:  # noqa: BLE001 - one failing cell must not end the run
                            failures.append(f"{len(failures) + 1}. {size}, {hole.name}, {dtype}, compile "
                                            f"{'on' if compiled else 'off'}: {failure_reason(exc)}\n")
                            cell = f"failed: {type(exc).__name__} (reason {len(failures)} below)"
                            print(failures[-1], end="", flush=True)
                            if device.type == "cuda":
                                torch.cuda.empty_cache()
                    row = _row(size, hole, dtype, compiled, cell)
                    text += row
                    listed = "\nFailed cells, whole messages:\n\n" + "".join(failures) if failures else ""
                    out.write_text(text + listed)
                    print(row, end="", flush=True)
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
