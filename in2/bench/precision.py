"""CPU precision study: `python -m in2.bench.precision IMAGE MASK [IMAGE MASK ...]`.

Runs the pipeline (native mode, plain paste) all in fp32, with its matrix products in bf16 (the
pipeline's CPU default, `runtime.CPU_BF16_MATMULS`), in bf16 (autocast, the pipeline's
`dtype="bf16"`) and with int8 dynamic quantisation of the decoder MLP's hidden and output
layers, on real photos and their masks, in one process with alternating runs. For each
reduced precision it reports the speed-up over fp32 and, on the hole pixels, how far the
output moves: the largest per-pixel difference (max over channels, in 1/255 steps), its 99.9th
percentile, the share of hole pixels within 1/255, and each precision's hole PSNR against
the original photo. A precision is a fit CPU default only when 99.9% of hole pixels stay
within 1/255 of fp32; the bound held for the bf16 matrix products is a hole PSNR against fp32
of at least 45 dB, printed as "vs fp32".
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import torch
from PIL import Image

from .. import runtime
from ..imaging import image_to_tensor, mask_to_tensor
from ..loader import load_model
from ..pipeline import InpaintPipeline
from ..scores import masked_psnr


def _int8_decoder(pipe: InpaintPipeline) -> InpaintPipeline:
    """A copy of the pipeline whose INRB hidden and output Linear layers run in int8."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        from torch.ao.quantization import quantize_dynamic

        model = copy.deepcopy(pipe.model)
        for block in model.decoder.blocks:
            block.hidden = quantize_dynamic(block.hidden, {torch.nn.Linear}, dtype=torch.qint8)
            block.out = quantize_dynamic(torch.nn.Sequential(block.out), {torch.nn.Linear}, dtype=torch.qint8)[0]
    return InpaintPipeline(model, device="cpu", weights_info=pipe.weights_info)


def _run(name: str, pipe: InpaintPipeline, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """One pipeline call; every run but "bf16 matmuls" keeps the matrix products in fp32."""
    before = runtime.CPU_BF16_MATMULS
    runtime.CPU_BF16_MATMULS = name == "bf16 matmuls"
    try:
        return pipe(image, hole.float()).image.float()
    finally:
        runtime.CPU_BF16_MATMULS = before


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m in2.bench.precision", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="+", help="IMAGE MASK pairs (mask: white = hole)")
    p.add_argument("--weights", default=None, help="weights folder or Hub id (default: the bundled demo weights)")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    if len(args.pairs) % 2:
        p.error("give IMAGE MASK pairs")
    model, info = load_model(args.weights)
    runs = {"fp32": InpaintPipeline(model, device="cpu", dtype="fp32", weights_info=info)}
    runs["bf16 matmuls"] = runs["fp32"]  # the pipeline's CPU default (runtime.CPU_BF16_MATMULS)
    runs["bf16"] = InpaintPipeline(copy.deepcopy(model), device="cpu", dtype="bf16", weights_info=info)
    runs["int8 decoder"] = _int8_decoder(runs["fp32"])
    print(f"{runs['fp32'].describe()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    for image_path, mask_path in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        image = image_to_tensor(Image.open(image_path))
        hole = mask_to_tensor(Image.open(mask_path))
        times: dict[str, list[float]] = {name: [] for name in runs}
        outputs: dict[str, torch.Tensor] = {}
        for name, pipe in runs.items():  # warm-up
            outputs[name] = _run(name, pipe, image, hole)
        for _ in range(args.repeats):
            for name, pipe in runs.items():
                start = time.perf_counter()
                _run(name, pipe, image, hole)
                times[name].append(time.perf_counter() - start)
        h, w = image.shape[-2:]
        print(f"\n{image_path} ({w}x{h}, hole {float(hole.float().mean()):.1%}), median of {args.repeats}")
        base = outputs["fp32"]
        for name, out in outputs.items():
            psnr = float(masked_psnr(out[None], image[None], hole[None, None]))
            line = f"  {name:>12}: {statistics.median(times[name]):7.3f} s, hole PSNR {psnr:6.2f} dB"
            if name != "fp32":
                diff = ((out - base).abs().amax(0)[hole] * 255).double()
                p999 = float(torch.quantile(diff, 0.999))
                vs_fp32 = float(masked_psnr(out[None], base[None], hole[None, None]))
                line += (f"; speed-up {statistics.median(times['fp32']) / statistics.median(times[name]):.2f}x; "
                         f"vs fp32 {vs_fp32:.2f} dB; "
                         f"|diff| max {float(diff.max()):.2f}/255, p99.9 {p999:.2f}/255, "
                         f"within 1/255: {float((diff <= 1).double().mean()):.2%}")
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
