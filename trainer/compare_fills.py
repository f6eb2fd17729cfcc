"""Is the trained model better than doing nothing clever? Hole PSNR against two floors.

    python trainer/compare_fills.py --weights runs/smoke/export --data synthetic --limit 32 \
        --settings 64x64,48x88,88x48 --synthetic-size 96

Compares, on the same held-out images and fixed masks:
- ``mean colour``: every hole pixel set to the image's mean known colour,
- ``untrained``: the same architecture with freshly initialised weights (seed 0),
- ``trained``: the given weights,
all through the same compositing and metrics as ``evaluate.py`` (native resolution).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from in2.compositing import paste_into_hole
from trainer.evaluate import collect_images, evaluate, pipeline_fill, write_results
from trainer.masks import parse_settings


def mean_colour_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the hole with the mean colour of the known pixels (per image)."""
    known = 1 - mask
    mean = (image * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
    return paste_into_hole(image, mean.expand_as(image), mask)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description="Hole PSNR of a trained model vs mean-colour fill and an untrained model.")
    p.add_argument("--weights", required=True)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--limit", type=int, default=32)
    p.add_argument("--settings", default="64x64,48x88,88x48")
    p.add_argument("--synthetic-size", type=int, default=96)
    p.add_argument("--masks", default=None)
    p.add_argument("--out", default="runs/compare_fills")
    args = p.parse_args(argv)

    from in2 import IN2, InpaintPipeline

    trained = InpaintPipeline.from_pretrained(args.weights, device="cpu")
    torch.manual_seed(0)
    untrained = InpaintPipeline(IN2(trained.model.config), device="cpu")
    fills = {
        "mean colour": mean_colour_fill,
        "untrained": pipeline_fill(untrained, "origin"),
        "trained": pipeline_fill(trained, "origin"),
    }
    settings = parse_settings(args.settings)
    out = Path(args.out)
    items = collect_images(args.data, args.limit, synthetic_size=args.synthetic_size)
    rows = evaluate(fills, items, settings, Path(args.masks) if args.masks else out / "masks")
    print(write_results(rows, settings, out, f"Weights: {args.weights}; data: {args.data} ({len(items)} images)\n\n"))
    return rows


if __name__ == "__main__":
    main()
