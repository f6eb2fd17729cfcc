"""Crop per hole region vs the whole photo: time and hole PSNR on real face photos.

    python -m in2.bench.crop [--weights DIR] [--scale 4] PHOTO [PHOTO ...]

Each photo is scaled by --scale (bicubic) to make a large photo, gets two small separate
holes (an eye and the mouth area of a centred face, 6% of the short side each), and is
inpainted whole (crop="off") and cropped with several context settings. Hole PSNR is
measured against the original pixels. Prints a markdown table (means over the photos).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..pipeline import InpaintPipeline
from ..scores import masked_psnr

SETTINGS = [("off", None, None), ("on", 2.0, 256), ("on", 3.0, 384), ("on", 4.0, 512)]


def two_holes(height: int, width: int) -> np.ndarray:
    side = max(4, round(0.06 * min(height, width)))
    hole = np.zeros((height, width), bool)
    for cy, cx in ((0.44, 0.40), (0.64, 0.50)):
        top, left = int(cy * height) - side // 2, int(cx * width) - side // 2
        hole[top : top + side, left : left + side] = True
    return hole


def hole_psnr(out: np.ndarray, ref: np.ndarray, hole: np.ndarray) -> float:
    """Hole PSNR (``scores.masked_psnr``) of two H x W x 3 uint8 photos."""
    def tensor(photo: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(photo).permute(2, 0, 1)[None].double() / 255

    return float(masked_psnr(tensor(out), tensor(ref), torch.from_numpy(hole)[None, None]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m in2.bench.crop", description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--scale", type=float, default=4.0)
    args = parser.parse_args(argv)
    missing = [path for path in args.photos if not Path(path).is_file()]
    if missing:  # one line, before the model loads
        print(f"error: no such photo: {', '.join(missing)} (the LFW faces the docs use: docs/results.md)",
              file=sys.stderr)
        return 2
    pipe = InpaintPipeline.from_pretrained(args.weights, device="cpu")
    print(pipe.describe())
    rows: dict[str, list[tuple[float, float]]] = {}
    for path in args.photos:
        photo = Image.open(path).convert("RGB")
        photo = photo.resize(
            (round(photo.width * args.scale), round(photo.height * args.scale)), Image.Resampling.BICUBIC
        )
        ref = np.asarray(photo)
        hole = two_holes(*ref.shape[:2])
        for crop, context, minimum in SETTINGS:
            options = {} if context is None else {"context": context, "context_min": minimum}
            torch.manual_seed(0)
            start = time.perf_counter()
            out = pipe(ref, hole, crop=crop, **options).image
            seconds = time.perf_counter() - start
            assert np.array_equal(out[~hole], ref[~hole])
            name = "whole photo" if crop == "off" else f"crop, context {context:g}, min {minimum}"
            rows.setdefault(name, []).append((seconds, hole_psnr(out, ref, hole)))
            print(
                f"{path} {photo.width}x{photo.height} {name}: {seconds:.1f} s, hole PSNR {rows[name][-1][1]:.2f} dB",
                flush=True,
            )
    print("\n| run | time (s) | hole PSNR (dB) |\n|---|---|---|")
    for name, values in rows.items():
        times, psnrs = zip(*values, strict=True)
        print(f"| {name} | {np.mean(times):.1f} | {np.mean(psnrs):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
