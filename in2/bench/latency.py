"""Benchmark of the IN2 generator on this machine: `python -m in2.bench --help`.

What is measured (and printed with the results):
- latency: median wall time of timed forward passes after warm-up passes (torch.no_grad,
  eval mode, random weights; the holes of `--hole`, see `in2.bench.holes`; CUDA timings
  synchronise before reading the clock);
- IN2 decodes only the hole (`IN2.forward(decode_only=mask)`, as the pipeline does for a plain
  paste); `--full-decode` times the decoding of every pixel instead;
- with `--compare lama`: the same for a LaMa-Fourier-shaped generator (`in2.nn.baseline.FFCBaseline`,
  the trainer's Table 4 baseline, random weights) on the same inputs in the same process, runs
  alternating with IN2's, and the ratio IN2 / LaMa
  (a ratio from one process stays meaningful when other work shares the machine), and the
  ratio of the process CPU times the two spent (steadier still on a busy machine);
- peak memory (`in2.bench.peak_memory.PeakMemory`): CUDA = torch.cuda.max_memory_allocated during the
  passes minus what was allocated before them (weights + inputs); CPU = growth of the
  process's peak resident set (VmHWM) over its resident set before the passes, each
  (size, dtype) in a fresh subprocess with the peak counter reset, so it includes allocator
  slack and is an upper bound on tensor memory;
- with `--onnx`: the same weights exported (`in2.onnx_export`) and run by ONNX Runtime's CPU
  provider (`in2.onnx_runtime.OnnxModel`, its default threads, fp32) on the same inputs, in
  turns with the others, and the ratios ONNX Runtime / torch and ONNX Runtime / LaMa;
- neighborhood attention alone (portable vs NATTEN) on the body's 1/8 map (dim 256, 8 heads);
- the implicit decoder alone, factorised vs plain first layer, on a random body output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import runtime
from ..errors import IN2Error
from ..model import IN2, level_sizes
from ..model_types import PRESETS, preset_config
from ..nn.attention import attention_backend, natten_available, natten_fused_available, neighborhood_attention
from ..nn.baseline import FFCBaseline
from ..options import DTYPES, PREFILL_MODES, canonical_dtype
from ..runtime import matmul_precision, resolve_device
from .holes import HoleSpec, hole_mask, parse_holes
from .peak_memory import PeakMemory, in_fresh_process


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' (width first, like image tools) -> (height, width)."""
    w, h = text.lower().split("x")
    return int(h), int(w)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int, long_s: float) -> list[float]:
    """Wall times of `repeats` runs after `warmup` runs; a single timed run when a warm-up exceeds long_s."""
    slowest = 0.0
    for _ in range(warmup):
        start = time.perf_counter()
        fn()
        _sync(device)
        slowest = max(slowest, time.perf_counter() - start)
    runs = 1 if slowest > long_s else repeats
    times = []
    for _ in range(runs):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _inputs(
    height: int, width: int, hole: HoleSpec, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, height, width, generator=g)
    return image.to(device, dtype), hole_mask(hole, height, width).to(device, dtype)


def time_alternating(
    fns: list[Callable[[], Any]], device: torch.device, warmup: int, repeats: int, long_s: float
) -> list[list[float]]:
    """Wall times of each function, run in turns so that load from other work hits them alike."""
    slowest = 0.0
    for _ in range(warmup):
        for fn in fns:
            slowest = max(slowest, time_runs(fn, device, 0, 1, long_s)[0])
    runs = 1 if slowest > long_s else repeats
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, out in zip(fns, times, strict=True):
            out += time_runs(fn, device, 0, 1, long_s)
    return times


def measure_model(spec: dict[str, Any]) -> dict[str, Any]:
    """One (size, hole, dtype) forward measurement in this process (IN2, and LaMa when compared)."""
    device = torch.device(spec["device"])
    dtype = DTYPES[spec["dtype"]]
    torch.manual_seed(0)
    config = preset_config(spec["config"], hole_prefill=spec.get("prefill", PREFILL_MODES[0]))
    model = IN2(config).eval().to(device, dtype)
    image, mask = _inputs(spec["height"], spec["width"], HoleSpec(*spec["hole"]), device, dtype)

    wanted = None if spec["full_decode"] else mask  # what compositing with blend='none' reads

    def run() -> None:  # with the pipeline's precision choices (runtime.matmul_precision)
        # --cpu-bf16 off: every product in fp32 (no reduced precision for this call only)
        precision = matmul_precision(device, dtype) if spec.get("cpu_bf16", True) else contextlib.nullcontext()
        with torch.no_grad(), precision:
            model(image, mask, chunk_size=spec["chunk_size"], decode_only=wanted)

    result: dict[str, Any] = {"hole_area": mask.mean().item(), "prefill": model.config.hole_prefill}
    alongside = bool(spec["compare"] or spec.get("onnx"))
    # IN2 alone first (its warm-up when compared), so its peak memory is its own
    with PeakMemory(device) as peak:
        if alongside:
            for _ in range(max(1, spec["warmup"])):
                run()
            times: list[float] = []
        else:
            times = time_runs(run, device, spec["warmup"], spec["repeats"], spec["long_s"])
    added = peak.added
    result.update(peak_mib=None if added is None else added / 2**20, peak_kind=peak.kind)
    if device.type != "cuda":
        result["peak_counter_reset"] = peak.counter_reset
    if alongside:
        names, fns = ["in2"], [run]
        if spec["compare"] == "lama":
            lama = FFCBaseline().eval().to(device, dtype)

            def run_lama() -> None:
                with torch.no_grad():
                    lama(image, mask)

            run_lama()  # its warm-up
            names.append("lama")
            fns.append(run_lama)
            result["lama_params"] = sum(t.numel() for t in lama.parameters())
        if spec.get("onnx"):
            names.append("onnx")
            fns.append(_onnx_runner(model, image, mask, wanted, spec["warmup"]))
        cpu: list[list[float]] = [[] for _ in fns]

        def cpu_timed(fn: Callable[[], None], sink: list[float]) -> Callable[[], None]:
            def timed() -> None:
                start = time.process_time()
                fn()
                sink.append(time.process_time() - start)
            return timed

        walls = time_alternating([cpu_timed(fn, sink) for fn, sink in zip(fns, cpu, strict=True)], device, 0,
                                 spec["repeats"], spec["long_s"])
        times = walls[0]
        result["cpu_s"] = cpu[0]
        for name, wall, spent in zip(names[1:], walls[1:], cpu[1:], strict=True):
            # process CPU time: what each model costs, whatever else shares the cores
            result.update({f"{name}_times": wall, f"{name}_median_s": statistics.median(wall), f"{name}_cpu_s": spent})
        if "lama" in names:
            result["ratio"] = statistics.median(times) / result["lama_median_s"]
            result["cpu_ratio"] = statistics.median(cpu[0]) / statistics.median(result["lama_cpu_s"])
            if "onnx" in names:
                result["onnx_ratio"] = result["onnx_median_s"] / result["lama_median_s"]
        if "onnx" in names:
            result["onnx_vs_torch"] = result["onnx_median_s"] / statistics.median(times)
    result.update(times=times, median_s=statistics.median(times))
    return result


def _onnx_runner(model: IN2, image: torch.Tensor, mask: torch.Tensor, region: torch.Tensor | None,
                 warmup: int) -> Callable[[], None]:
    """The same weights exported to a temporary ONNX file and run by ONNX Runtime (CPU provider,
    its default threads) on the same inputs; warmed up like IN2."""
    import tempfile

    from ..onnx_export import export_onnx
    from ..onnx_runtime import OnnxModel

    with tempfile.TemporaryDirectory() as folder:
        runner = OnnxModel(export_onnx(model, Path(folder) / "in2.onnx"))

    def run_onnx() -> None:
        runner(image.float(), mask.float(), decode_only=region)

    for _ in range(max(1, warmup)):
        run_onnx()
    return run_onnx


def bench_attention(size: tuple[int, int], device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """Portable NA vs natten.na2d on the body map of an image of `size` (dim 256, 8 heads, k 7)."""
    h, w = level_sizes(*size)[2]
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, h, w, 8, 32, generator=g).to(device) for _ in range(3))
    row: dict[str, Any] = {"map": f"{w}x{h}"}

    def run_portable() -> torch.Tensor:
        with attention_backend("portable"):
            return neighborhood_attention(q, k, v, 7)

    row["portable_s"] = statistics.median(time_runs(run_portable, device, args.warmup, args.repeats, args.long_s))
    if not natten_available():
        row["natten"] = "skipped: natten does not import"
    elif not (device.type == "cuda" and natten_fused_available()) and h * w > args.natten_max_tokens:
        gib = (h * w) ** 2 * 8 * 4 / 2**30
        row["natten"] = (f"skipped: without NATTEN's fused CUDA kernels only its Flex backend runs, which "
                         f"materialises the full score matrix (~{gib:.1f} GiB for {h * w} tokens); "
                         f"raise --natten-max-tokens to force")
    else:
        def run_natten() -> torch.Tensor:
            with attention_backend("natten"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return neighborhood_attention(q, k, v, 7)

        try:
            row["natten_s"] = statistics.median(
                time_runs(run_natten, device, 1, 1 if device.type == "cpu" else args.repeats, args.long_s)
            )
            row["max_abs_diff"] = (run_natten().float() - run_portable().float()).abs().max().item()
            row["natten_fused"] = natten_fused_available()
        except Exception as exc:  # noqa: BLE001 - report, do not abort the whole benchmark
            row["natten"] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    return row


def bench_decoder(size: tuple[int, int], model: IN2, device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """The implicit decoder alone on a random body output, factorised vs plain first layer."""
    levels = level_sizes(*size)
    feat = torch.randn(1, model.config.body_dim, *levels[2], device=device)
    sizes = [levels[1], levels[0], size][-model.config.pyramid_levels :]
    row: dict[str, Any] = {"size": f"{size[1]}x{size[0]}"}
    for name, factorised in (("factorised_s", True), ("plain_s", False)):
        def run(factorised: bool = factorised) -> None:
            with torch.no_grad():
                model.decoder(feat, sizes, chunk_size=args.chunk_size, factorised=factorised)

        row[name] = statistics.median(time_runs(run, device, args.warmup, args.repeats, args.long_s))
    row["speedup"] = row["plain_s"] / row["factorised_s"]
    return row


def _fmt_mib(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options (``--child`` is how a fresh process gets its one measurement)."""
    p = argparse.ArgumentParser(
        prog="python -m in2.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (auto = cuda when available)")
    p.add_argument("--config", default="default", choices=PRESETS)
    p.add_argument("--sizes", default="512x512,1024x576,1024x1024,2048x2048", help="comma-separated WxH")
    p.add_argument(
        "--dtypes", default=None, help="comma-separated of fp32,bf16,fp16 (default: fp32 on CPU, fp32,bf16 on CUDA)"
    )
    p.add_argument(
        "--hole",
        default="box:0.25",
        help="comma-separated SHAPE:AREA holes (brush, spots, box; AREA in (0, 1]; 'full' = 1.0), "
        "e.g. brush:0.05,spots:0.01,brush:0.25,full",
    )
    p.add_argument(
        "--compare",
        default=None,
        choices=["lama"],
        help="also time a LaMa-Fourier-shaped generator (random weights) on the same inputs",
    )
    p.add_argument(
        "--onnx",
        action="store_true",
        help="also time the same weights exported to ONNX and run by ONNX Runtime's CPU provider "
        "(needs the [onnx] extra)",
    )
    p.add_argument("--prefill", default=PREFILL_MODES[0], choices=PREFILL_MODES,
                   help="the hole input: zeros (the paper) or smooth (membrane pre-fill, the bundled weights)")
    p.add_argument("--full-decode", action="store_true", help="decode every output pixel, not only the hole")
    p.add_argument("--cpu-bf16", default="on", choices=["on", "off"],
                   help="fp32 on a CPU with native bf16: the matrix products in bf16 as the pipeline runs them "
                        "(on, runtime.CPU_BF16_MATMULS) or all in fp32 (off)")
    p.add_argument("--chunk-size", type=int, default=65536, help="decoder queries per chunk")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median reported)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--long-s", type=float, default=60.0, help="a warm-up slower than this leaves a single timed run")
    p.add_argument(
        "--decoder-sizes",
        default=None,
        help="sizes for the decoder comparison (default: 512x512 on CPU, all sizes on CUDA)",
    )
    p.add_argument(
        "--natten-max-tokens",
        type=int,
        default=None,
        help="largest map run through natten's Flex backend, O(N^2) memory (default 4096 on CPU, 16384 on CUDA)",
    )
    p.add_argument("--skip", default="", help="comma-separated parts to skip: model,attention,decoder")
    p.add_argument("--json", dest="json_out", default=None, help="also write all results to this JSON file")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p


def run_models(
    args: argparse.Namespace, device: torch.device, sizes: list[tuple[int, int]], holes: list[HoleSpec],
    dtypes: list[str], report: dict[str, Any],
) -> None:
    """Time full forwards per (size, hole, dtype), each CPU one in a fresh process; rows into ``report``."""
    print("\nfull forward (image + mask -> prediction)")
    lama_head = f" {'LaMa s':>8} {'IN2/LaMa':>8} {'CPU-time ratio':>14}" if args.compare else ""
    if args.onnx:
        lama_head += f" {'ORT s':>8} {'ORT/torch':>9}" + (f" {'ORT/LaMa':>8}" if args.compare else "")
    print(f"{'size':>10} {'hole':>10} {'dtype':>5} {'median s':>9} {'runs':>4} {'peak MiB':>9}{lama_head}")
    for h, w in sizes:
        for hole in holes:
            for dt in dtypes:
                spec = dict(
                    device=str(device),
                    dtype=dt,
                    config=args.config,
                    prefill=args.prefill,
                    height=h,
                    width=w,
                    hole=[hole.shape, hole.area],
                    compare=args.compare,
                    onnx=args.onnx,
                    full_decode=args.full_decode,
                    cpu_bf16=args.cpu_bf16 == "on",
                    chunk_size=args.chunk_size,
                    warmup=args.warmup,
                    repeats=args.repeats,
                    long_s=args.long_s,
                )
                res = measure_model(spec) if device.type == "cuda" else in_fresh_process("in2.bench.latency", spec)
                res.update(size=f"{w}x{h}", dtype=dt, hole=hole.name)
                report["model"].append(res)
                if "error" in res:
                    print(f"{f'{w}x{h}':>10} {hole.name:>10} {dt:>5} failed: {res['error']}")
                    continue
                measured = "full" if hole.area >= 1 else f"{hole.shape} {res['hole_area']:.1%}"
                lama = (
                    f" {res['lama_median_s']:8.3f} {res['ratio']:8.2f} {res['cpu_ratio']:14.2f}"
                    if args.compare
                    else ""
                )
                if args.onnx:
                    lama += f" {res['onnx_median_s']:8.3f} {res['onnx_vs_torch']:9.2f}"
                    lama += f" {res['onnx_ratio']:8.2f}" if args.compare else ""
                print(f"{f'{w}x{h}':>10} {measured:>10} {dt:>5} {res['median_s']:9.3f} {len(res['times']):4d} "
                      f"{_fmt_mib(res['peak_mib']):>9}{lama}", flush=True)
    kind = report["model"][0].get("peak_kind", "") if report["model"] else ""
    print(
        f"peak memory = {kind}, IN2 only"
        + ("; LaMa-Fourier: 27.0M parameters, random weights, runs alternating with IN2's" if args.compare else "")
    )
    if args.onnx:
        print("ORT = the same IN2 weights in ONNX Runtime (CPU provider, default threads; fp32), "
              "runs alternating with torch's")


def run_attention(
    args: argparse.Namespace, device: torch.device, sizes: list[tuple[int, int]], report: dict[str, Any]
) -> None:
    """Portable neighbourhood attention against natten's, per size; rows into ``report``."""
    print("\nneighborhood attention on the 1/8 map (dim 256, 8 heads, kernel 7), fp32")
    for size in sizes:
        row = bench_attention(size, device, args)
        report["attention"].append(row)
        natten_txt = (
            f"natten {row['natten_s']:.3f} s (max |diff| {row['max_abs_diff']:.1e})"
            if "natten_s" in row
            else row["natten"]
        )
        print(f"  map {row['map']:>8}: portable {row['portable_s']:.4f} s; {natten_txt}", flush=True)


def run_decoder(
    args: argparse.Namespace, model: IN2, device: torch.device, sizes: list[tuple[int, int]], report: dict[str, Any]
) -> None:
    """The decoder alone, factorised vs plain first layer, per size; rows into ``report``."""
    print("\nimplicit decoder alone, fp32: factorised vs plain first layer")
    for size in sizes:
        row = bench_decoder(size, model, device, args)
        report["decoder"].append(row)
        print(f"  {row['size']:>10}: factorised {row['factorised_s']:.3f} s, plain {row['plain_s']:.3f} s "
              f"({row['speedup']:.2f}x)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark's parts on one device and print (and optionally save) what they measure."""
    p = build_parser()
    args = p.parse_args(argv)

    if args.child is not None:  # one CPU measurement in a fresh process
        print(json.dumps(measure_model(json.loads(args.child))))
        return 0

    try:
        device = resolve_device(args.device)
    except IN2Error as exc:
        p.error(str(exc))
    if args.natten_max_tokens is None:
        args.natten_max_tokens = 16384 if device.type == "cuda" else 4096
    dtypes = (
        [canonical_dtype(d) for d in args.dtypes.split(",")]
        if args.dtypes
        else (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
    )
    if any(d not in DTYPES for d in dtypes):
        p.error(f"--dtypes takes {', '.join(DTYPES)}, got {args.dtypes}")
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    dec_sizes = (
        [parse_size(s) for s in args.decoder_sizes.split(",")]
        if args.decoder_sizes
        else (sizes if device.type == "cuda" else [(512, 512)])
    )
    skip = set(filter(None, args.skip.split(",")))
    try:
        holes = parse_holes(args.hole)
    except ValueError as exc:
        p.error(str(exc))
    config = preset_config(args.config, hole_prefill=args.prefill)
    model = IN2(config).eval().to(device)
    params = sum(t.numel() for t in model.parameters())
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    report: dict[str, Any] = {
        "device": str(device), "device_name": where, "torch": torch.__version__, "config": args.config,
        "prefill": args.prefill,
        "params": params, "chunk_size": args.chunk_size, "natten_available": natten_available(),
        "natten_fused": natten_fused_available(), "model": [], "attention": [], "decoder": [],
    }
    print(f"IN2 benchmark on {device} ({where}), torch {torch.__version__}")
    print(f"config {args.config} (hole input: {args.prefill}): {params:,} parameters; decoder chunk {args.chunk_size}; "
          f"median of {args.repeats} after {args.warmup} warm-up (1 timed run when a warm-up > {args.long_s:.0f} s)")
    matmuls = runtime.cpu_matmul_dtype(device, torch.float32) if args.cpu_bf16 == "on" else None
    print(f"fp32 matrix products on this device: {'bf16 (runtime.CPU_BF16_MATMULS)' if matmuls else 'fp32'}")

    if "model" not in skip:
        run_models(args, device, sizes, holes, dtypes, report)

    if "attention" not in skip:
        run_attention(args, device, sizes, report)
    if "decoder" not in skip:
        run_decoder(args, model, device, dec_sizes, report)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nwrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
