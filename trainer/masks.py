"""Brush-stroke masks for training and evaluation: seeded training masks, fixed evaluation sets.

The strokes themselves and their area band come from ``in2.imaging.strokes`` (the benchmark
draws its brush holes with the same strokes). Training masks are a pure function of
``(seed, epoch, index)`` through ``numpy.random.default_rng([seed, epoch, idx])``. Evaluation
masks are written to PNG files with a JSON manifest (``python trainer/masks.py make-eval-set``):
the files are the guarantee, since random streams and rasterisers may change between library
versions.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from in2.imaging import mask_to_tensor
from in2.imaging.strokes import MaskParams, brush_mask

# Evaluation-set manifest format; 2 = areas spread by a per-mask target (1 crowded the floor).
EVAL_SET_FORMAT = "in2-eval-masks/2"

# The paper's evaluation settings as (height, width); named and typed width x height (``setting_name``).
EVAL_SETTINGS: list[tuple[int, int]] = [
    (512, 512), (768, 1024), (1024, 768), (1024, 576), (1024, 1024), (443, 591), (591, 443), (683, 384),
]


def training_mask(seed: int, epoch: int, idx: int, height: int, width: int,
                  params: MaskParams = MaskParams()) -> np.ndarray:
    """The mask of sample ``idx`` in ``epoch``: identical on every rank, worker and resume."""
    return brush_mask(np.random.default_rng([seed, epoch, idx]), height, width, params)


def eval_mask(seed: int, height: int, width: int, idx: int, params: MaskParams = MaskParams()) -> np.ndarray:
    """The evaluation mask ``idx`` of one setting (seeded by seed, size and index)."""
    return brush_mask(np.random.default_rng([seed, height, width, idx]), height, width, params)


def setting_name(height: int, width: int) -> str:
    """``"WxH"``: sizes are written width first everywhere a user types or reads one."""
    return f"{width}x{height}"


def make_eval_set(out: Path, settings: list[tuple[int, int]], count: int, seed: int = 2024,
                  params: MaskParams = MaskParams()) -> dict:
    """Write ``out/<W>x<H>/mask_00000.png``... and ``out/manifest.json``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"format": EVAL_SET_FORMAT, "seed": seed, "count": count, "params": asdict(params),
                      "convention": "white (255) = hole to fill", "settings": {}}
    for h, w in settings:
        name = setting_name(h, w)
        folder = out / name
        folder.mkdir(exist_ok=True)
        entries = []
        for i in range(count):
            m = eval_mask(seed, h, w, i, params)
            path = folder / f"mask_{i:05d}.png"
            Image.fromarray((m * 255).astype(np.uint8)).save(path)
            entries.append({"file": f"{name}/{path.name}", "area": round(float(m.mean()), 6),
                            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
        manifest["settings"][name] = {"height": h, "width": w, "masks": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def load_eval_set(root: Path, height: int, width: int, verify: bool = True) -> list[np.ndarray]:
    """Read the masks of one setting back as bool arrays, checking sizes and checksums."""
    manifest = json.loads((root / "manifest.json").read_text())
    if manifest.get("format") != EVAL_SET_FORMAT:
        raise ValueError(f"{root / 'manifest.json'} is format {manifest.get('format')!r}, not {EVAL_SET_FORMAT!r} "
                         f"(older sets crowd the bottom of the area band); regenerate it with "
                         f"python trainer/masks.py make-eval-set")
    name = setting_name(height, width)
    # by size, not by name: sets written before names were width first name them HxW
    setting = next((s for s in manifest["settings"].values() if (s["height"], s["width"]) == (height, width)), None)
    if setting is None:
        raise KeyError(f"mask set {root} has no setting {name}; it has {sorted(manifest['settings'])}")
    masks = []
    for entry in setting["masks"]:
        path = root / entry["file"]
        data = path.read_bytes()
        if verify and hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ValueError(f"{path} does not match the sha256 in {root / 'manifest.json'}; regenerate the mask set")
        with Image.open(io.BytesIO(data)) as im:  # the bytes just verified, by the core's mask rule
            m = mask_to_tensor(im).numpy()
        if m.shape != (height, width):
            raise ValueError(f"{path} is {m.shape[1]}x{m.shape[0]}, expected {name}")
        masks.append(m)
    return masks


def parse_settings(text: str) -> list[tuple[int, int]]:
    if text == "paper":
        return list(EVAL_SETTINGS)
    out = []
    for part in text.split(","):
        w, h = part.lower().split("x")  # WxH, like every size the project prints
        out.append((int(h), int(w)))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python trainer/masks.py", description="Brush-stroke mask tools.")
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-eval-set", help="write a fixed evaluation mask set (PNGs + manifest.json)")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--settings", default="paper", help="'paper' (the 8 settings) or a list like 512x512,1024x576")
    m.add_argument("--count", type=int, default=100, help="masks per setting")
    m.add_argument("--seed", type=int, default=2024)
    m.add_argument("--min-area", type=float, default=0.2)
    m.add_argument("--max-area", type=float, default=0.3)
    args = p.parse_args(argv)
    params = MaskParams(min_area=args.min_area, max_area=args.max_area)
    manifest = make_eval_set(args.out, parse_settings(args.settings), args.count, args.seed, params)
    n = sum(len(s["masks"]) for s in manifest["settings"].values())
    print(f"wrote {n} masks for {len(manifest['settings'])} settings to {args.out}")


if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "masks"))
