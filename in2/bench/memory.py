"""How `runtime.BYTES_PER_PIXEL` is measured: `python -m in2.bench.memory --help`.

One default-config forward (full decode, `runtime.DEFAULT_CHUNK_SIZE`, a random 25% hole) at
several square sizes, each in a fresh process (`measure.in_fresh_process`), its peak read by
`measure.PeakMemory`; prints each size's peak and the per-pixel slope between the first and
the last size, which is what the memory budget multiplies by the pixel count.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from ..options import DTYPES, canonical_dtype
from .peak_memory import PeakMemory, in_fresh_process


def measure_forward(spec: dict[str, Any]) -> dict[str, Any]:
    """Peak memory of one forward at ``spec["side"]`` squared, in this process."""
    from .. import IN2, IN2Config
    from ..runtime import DEFAULT_CHUNK_SIZE, autocast

    side, device, dtype = spec["side"], torch.device(spec["device"]), DTYPES[spec["dtype"]]
    torch.manual_seed(0)
    model = IN2(IN2Config()).to(device).eval()
    image = torch.rand(1, 3, side, side, device=device)
    mask = (torch.rand(1, 1, side, side, device=device) > 0.75).float()
    with PeakMemory(device) as peak, torch.inference_mode(), autocast(device, dtype):
        model(image, mask, chunk_size=DEFAULT_CHUNK_SIZE)
    return {"peak": peak.peak, "added": peak.added, "kind": peak.kind}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m in2.bench.memory", description="measure IN2's peak memory per output pixel"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", type=canonical_dtype, choices=tuple(DTYPES))
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 512, 768])
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # one size in this fresh process
        print(json.dumps(measure_forward(json.loads(args.child))))
        return 0

    rows = []
    for side in args.sides:
        result = in_fresh_process("in2.bench.memory", {"side": side, "device": args.device, "dtype": args.dtype})
        if "error" in result or result["added"] is None:
            print(f"{side}x{side}: failed: {result.get('error', 'this platform reports no peak memory')}")
            return 1
        rows.append((side * side, result["added"]))
        print(f"{side}x{side}: peak {result['peak'] / 2**20:.0f} MiB, forward adds {result['added'] / 2**20:.0f} MiB, "
              f"{result['added'] / (side * side):.0f} B/px")
    (p0, m0), (p1, m1) = rows[0], rows[-1]
    if p1 != p0:
        slope = (m1 - m0) / (p1 - p0)
        print(f"slope {slope:.0f} B/px, offset {(m0 - slope * p0) / 2**20:.0f} MiB ({result['kind']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
