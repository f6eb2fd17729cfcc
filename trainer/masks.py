"""Free-form brush-stroke masks with a controlled hole area, for training and evaluation.

The paper trains and tests on free-form masks covering 20-30% of the image. Raw brush-stroke
generators land in that band only 10-20% of the time, and growing a mask only until it reaches
the band's floor crowds the areas at the bottom (median 22%). So each mask draws its own target
area across the band and grows stroke by stroke until it crosses that target; the stroke that
crosses is redrawn a few times and the mask keeps the in-band state closest to the target. The
areas then spread evenly over the band (median ~25%). Stroke widths and lengths scale with
``sqrt(H*W)/512``, so one parameter set serves 256^2 crops and 1024^2 photos.

Training masks are a pure function of ``(seed, epoch, index)`` through
``numpy.random.default_rng([seed, epoch, idx])``. Evaluation masks are written to PNG files
with a JSON manifest (``python -m trainer.masks make-eval-set``): the files are the
guarantee, since random streams and rasterisers may change between library versions.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from in2.imaging import mask_to_tensor

# Evaluation-set manifest format; 2 = areas spread by a per-mask target (1 crowded the floor).
EVAL_SET_FORMAT = "in2-eval-masks/2"

# Alternatives to the stroke that crosses the target area: more = areas closer to the target.
_CROSSING_REDRAWS = 2
# Targets are drawn from the band widened by this fraction of its width on each side. Areas near
# an edge are reachable from one side only, so without it the outer 1% bins get ~30% fewer masks.
_TARGET_MARGIN = 0.1

# The paper's evaluation settings, height x width.
EVAL_SETTINGS: list[tuple[int, int]] = [
    (512, 512), (768, 1024), (1024, 768), (1024, 576), (1024, 1024), (443, 591), (591, 443), (683, 384),
]


@dataclass(frozen=True)
class MaskParams:
    """Brush-stroke parameters, stated at 512x512 and scaled to any size."""

    min_area: float = 0.20
    max_area: float = 0.30
    min_vertices: int = 4
    max_vertices: int = 18
    min_width: float = 12.0  # px at 512^2
    max_width: float = 48.0
    max_length: float = 60.0  # max segment length, px at 512^2
    max_angle: float = 2 * math.pi / 5  # max turn per segment
    max_tries: int = 200

    @classmethod
    def from_dict(cls, d: dict | None) -> "MaskParams":
        d = dict(d or {})
        if "area" in d:  # convenience: area: [0.2, 0.3]
            d["min_area"], d["max_area"] = d.pop("area")
        return cls(**d)

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_area < self.max_area <= 1.0:
            raise ValueError(f"mask area band must satisfy 0 <= min < max <= 1, got [{self.min_area}, {self.max_area}]")


def _stroke(draw: ImageDraw.ImageDraw, rng: np.random.Generator, height: int, width: int, p: MaskParams,
            scale: float) -> None:
    """One DeepFill-v2-style brush stroke: a polyline with round joins and caps."""
    n = int(rng.integers(p.min_vertices, p.max_vertices + 1))
    w = max(1, int(round(rng.uniform(p.min_width, p.max_width) * scale)))
    x, y = rng.uniform(0, width), rng.uniform(0, height)
    angle = rng.uniform(0, 2 * math.pi)
    points = [(x, y)]
    for _ in range(n):
        angle += rng.uniform(-p.max_angle, p.max_angle)
        length = rng.uniform(0.2, 1.0) * p.max_length * scale + w / 2
        x = float(np.clip(x + length * math.cos(angle), 0, width - 1))
        y = float(np.clip(y + length * math.sin(angle), 0, height - 1))
        points.append((x, y))
    draw.line(points, fill=255, width=w, joint="curve")
    r = w / 2
    for px, py in (points[0], points[-1]):
        draw.ellipse([px - r, py - r, px + r, py + r], fill=255)


def _hole_fraction(img: Image.Image, total: int) -> float:
    # Counting via histogram avoids a numpy copy per stroke.
    return img.histogram()[255] / total


def brush_mask(rng: np.random.Generator, height: int, width: int, params: MaskParams = MaskParams()) -> np.ndarray:
    """Return a bool ``H x W`` mask (True = hole) whose area lies in ``[min_area, max_area]``.

    Areas follow a target drawn per mask across the band, so they spread over all of it instead
    of stopping at its floor. Raises RuntimeError when ``max_tries`` attempts all miss the band
    (a band too narrow for the stroke sizes), instead of silently returning a mask outside it.
    """
    scale = math.sqrt(height * width) / 512.0
    total = height * width
    low, high = params.min_area, params.max_area
    margin = _TARGET_MARGIN * (high - low)
    for _ in range(params.max_tries):
        target = rng.uniform(low - margin, high + margin)
        img, area = Image.new("L", (width, height), 0), 0.0
        while True:
            before, before_area = img.copy(), area
            _stroke(ImageDraw.Draw(img), rng, height, width, params, scale)
            area = _hole_fraction(img, total)
            if area >= target:
                break
        candidates = [(before_area, before), (area, img)]
        for _ in range(_CROSSING_REDRAWS):
            alt = before.copy()
            _stroke(ImageDraw.Draw(alt), rng, height, width, params, scale)
            candidates.append((_hole_fraction(alt, total), alt))
        inside = [(abs(a - target), a, im) for a, im in candidates if low <= a <= high]
        if inside:
            return np.asarray(min(inside, key=lambda c: c[0])[2]) > 127
    raise RuntimeError(
        f"no brush mask of {height}x{width} fell in the area band [{params.min_area}, {params.max_area}] "
        f"after {params.max_tries} tries; widen the band or reduce the stroke width"
    )


def training_mask(seed: int, epoch: int, idx: int, height: int, width: int,
                  params: MaskParams = MaskParams()) -> np.ndarray:
    """The mask of sample ``idx`` in ``epoch``: identical on every rank, worker and resume."""
    return brush_mask(np.random.default_rng([seed, epoch, idx]), height, width, params)


def eval_mask(seed: int, height: int, width: int, idx: int, params: MaskParams = MaskParams()) -> np.ndarray:
    """The evaluation mask ``idx`` of one setting (seeded by seed, size and index)."""
    return brush_mask(np.random.default_rng([seed, height, width, idx]), height, width, params)


def setting_name(height: int, width: int) -> str:
    return f"{height}x{width}"


def make_eval_set(out: Path, settings: list[tuple[int, int]], count: int, seed: int = 2024,
                  params: MaskParams = MaskParams()) -> dict:
    """Write ``out/<H>x<W>/mask_00000.png``... and ``out/manifest.json``; returns the manifest."""
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
                         f"python -m trainer.masks make-eval-set")
    name = setting_name(height, width)
    if name not in manifest["settings"]:
        raise KeyError(f"mask set {root} has no setting {name}; it has {sorted(manifest['settings'])}")
    masks = []
    for entry in manifest["settings"][name]["masks"]:
        path = root / entry["file"]
        data = path.read_bytes()
        if verify and hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ValueError(f"{path} does not match the sha256 in {root / 'manifest.json'}; regenerate the mask set")
        with Image.open(io.BytesIO(data)) as im:  # the bytes just verified, by the core's mask rule
            m = mask_to_tensor(im).numpy()
        if m.shape != (height, width):
            raise ValueError(f"{path} is {m.shape[0]}x{m.shape[1]}, expected {name}")
        masks.append(m)
    return masks


def parse_settings(text: str) -> list[tuple[int, int]]:
    if text == "paper":
        return list(EVAL_SETTINGS)
    out = []
    for part in text.split(","):
        h, w = part.lower().split("x")
        out.append((int(h), int(w)))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m trainer.masks", description="Brush-stroke mask tools.")
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
    main()
