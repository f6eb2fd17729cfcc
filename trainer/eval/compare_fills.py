"""Is the trained model better than the fills a user already has? Hole PSNR and SSIM side by side.

Real faces (the validation people of a face set, the command behind the README table):

    python trainer/eval/compare_fills.py --weights in2/demo_weights --data ~/data/lfw \\
        --list trainer/splits/lfw_val.txt --per-person 1 --limit 300 --protocol faces

Synthetic faces (smoke runs):

    python trainer/eval/compare_fills.py --weights runs/smoke/export --data synthetic --limit 32 \\
        --settings 64x64,48x88,88x48 --synthetic-size 96 --fills native,mean,untrained

Fills, all composited and scored the same way as ``evaluate.py`` on the same fixed masks:
- ``native``: IN2 at the photo's own size; ``resize``: IN2 at its training size and back,
- ``telea``: OpenCV's Telea fast-marching inpainting (``cv2.inpaint``, radius 5), the
  non-learned fill every photo tool has,
- ``mean``: every hole pixel set to the mean known colour,
- ``untrained``: the same architecture freshly initialised (seed 0).
- ``prefill``: the membrane pre-fill alone (what ``hole_prefill: smooth`` models start from).

``--protocol parts`` hides both eyes, one eye, the nose, the mouth or the inner face and asks
independent face and eye detectors whether they come back (``parts_eval.py``).

``--protocol faces`` is the real-face setting: each photo is resized to 256 x 256 and
centre-cropped to W x H = 256x256, 192x256, 256x192 and 256x144; the masks are fixed, seeded
20-30% brush strokes. ``--gallery PNG`` also draws photo | mask | IN2 | Telea rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# Run as a file (``python trainer/eval/compare_fills.py``): the checkout's root holds ``trainer``,
# which is not an installed package.
if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from in2.compositing import paste_into_hole
from in2.imaging import image_to_tensor
from trainer.eval.gallery import labelled_grid
from trainer.eval.metrics import as_uint8
from trainer.eval.protocol import (
    Fill,
    centred_crop,
    collect_images,
    evaluate,
    load_test_image,
    masks_for,
    pipeline_fill,
    write_results,
)
from trainer.eval.record import record
from trainer.masks import parse_settings, setting_name

FACE_SIDE = 256
FACE_SETTINGS = "256x256,192x256,256x192,256x144"  # W x H
FILL_NAMES = {"native": "IN2 native", "resize": "IN2 resize", "telea": "Telea (OpenCV)", "mean": "mean colour",
              "untrained": "IN2 untrained", "prefill": "membrane pre-fill alone", "original": "original photo",
              "donor": "donor paste (another person, Poisson)"}


def mean_colour_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the hole with the mean colour of the known pixels (per image)."""
    known = 1 - mask
    mean = (image * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
    return paste_into_hole(image, mean.expand_as(image), mask)


def prefill_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The smooth pre-fill IN2 starts from (``hole_prefill: smooth``), with no network on top."""
    from in2.nn.prefill import prefill

    return paste_into_hole(image, prefill(image, mask, "smooth"), mask)


def telea_fill(image: torch.Tensor, mask: torch.Tensor, radius: int = 5) -> torch.Tensor:
    """OpenCV's Telea inpainting on the uint8 photo, composited like every other fill."""
    try:
        import cv2
    except ImportError as e:
        raise SystemExit("the Telea comparison needs OpenCV: pip install opencv-python-headless") from e
    out = []
    for img, m in zip(image, mask, strict=True):
        hole = (m[0] > 0.5).byte().cpu().numpy() * 255
        filled = cv2.inpaint(np.ascontiguousarray(as_uint8(img)), hole, radius, cv2.INPAINT_TELEA)
        out.append(torch.from_numpy(filled).permute(2, 0, 1).float() / 255)
    return paste_into_hole(image, torch.stack(out).to(image.device), mask)


def face_crop(img: Image.Image, height: int, width: int) -> Image.Image:
    """Resize the photo to 256 x 256, then take the centred ``height x width`` crop."""
    return centred_crop(img.convert("RGB").resize((FACE_SIDE, FACE_SIDE), Image.BICUBIC), height, width)


def zoomed_face_crop(keep: float) -> Callable[[Image.Image, int, int], Image.Image]:
    """``face_crop`` after a centred square crop keeping ``keep`` of the side: a close-up, with
    the face ``1 / keep`` times larger than in the data set's framing."""

    def prepare(img: Image.Image, height: int, width: int) -> Image.Image:
        img = img.convert("RGB")
        side = max(1, round(min(img.size) * keep))
        left, top = (img.width - side) // 2, (img.height - side) // 2
        return face_crop(img.crop((left, top, left + side, top + side)), height, width)

    return prepare


def one_per_person(paths: list[Path]) -> list[Path]:
    """The first photo of each person folder: every test face is a different person."""
    seen, out = set(), []
    for p in paths:
        if p.parent not in seen:
            seen.add(p.parent)
            out.append(p)
    return out


def build_fills(names: list[str], weights: str | None) -> dict[str, Fill]:
    fills: dict[str, Fill] = {}
    pipe = None
    for name in names:
        if name in ("native", "resize", "untrained") and pipe is None:
            from in2 import InpaintPipeline

            pipe = InpaintPipeline.from_pretrained(weights, device="cpu")
        if name == "native":
            fills[FILL_NAMES[name]] = pipeline_fill(pipe, "native")
        elif name == "resize":
            fills[FILL_NAMES[name]] = pipeline_fill(pipe, "resize")
        elif name == "untrained":
            from in2 import IN2, InpaintPipeline

            torch.manual_seed(0)
            fills[FILL_NAMES[name]] = pipeline_fill(InpaintPipeline(IN2(pipe.model.config), device="cpu"), "native")
        elif name == "telea":
            fills[FILL_NAMES[name]] = telea_fill
        elif name == "mean":
            fills[FILL_NAMES[name]] = mean_colour_fill
        elif name == "prefill":
            fills[FILL_NAMES[name]] = prefill_fill
        elif name == "original":
            fills[FILL_NAMES[name]] = lambda image, mask: image
        elif name == "donor":  # the parts protocol only: it needs another test face
            from trainer.eval.parts import DonorPaste

            fills[FILL_NAMES[name]] = DonorPaste()
        else:
            raise SystemExit(f"unknown fill {name!r}; choose from {', '.join(FILL_NAMES)}")
    return fills


def summary_table(rows: list[dict], settings: list[tuple[int, int]]) -> str:
    """Fills as rows, settings (W x H) as columns, each cell ``hole PSNR / whole-image SSIM``."""
    by = {(r["model"], r["setting"]): r for r in rows}
    names = list(dict.fromkeys(r["model"] for r in rows))
    head = " | ".join(setting_name(*s) for s in settings)
    lines = [f"| fill (hole PSNR dB / SSIM) | {head} |", "|---|" + "---|" * len(settings)]
    for name in names:
        cells = [f"{by[(name, setting_name(*s))]['masked_psnr']:.2f} / {by[(name, setting_name(*s))]['ssim']:.3f}"
                 for s in settings]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def gallery(path: Path, items: list, fills: dict[str, Fill], setting: tuple[int, int], mask_dir: Path,
            prepare: Callable[[Image.Image, int, int], Image.Image], count: int, seed: int) -> None:
    """Rows of photo | masked input | each fill, at the setting's size, under named columns, as one PNG."""
    masks = masks_for(setting, len(items), mask_dir, seed)
    rows = []
    for i in range(min(count, len(items))):
        img = image_to_tensor(prepare(load_test_image(items[i]), *setting))[None]
        mask = torch.from_numpy(masks[i][None, None].astype(np.float32))
        rows.append([img, img * (1 - mask) + mask] + [fill(img, mask) for fill in fills.values()])
    path.parent.mkdir(parents=True, exist_ok=True)
    labelled_grid(rows, ["photo", "hole (white)", *fills]).save(path)


def parse_sets(specs: list[str], data: str, list_file: str | None) -> dict[str, tuple[str, str | None]]:
    """``NAME=ROOT[:LIST]`` specs as {name: (root, list)}; without any, the one --data/--list set."""
    if not specs:
        return {Path(data).name or "data": (data, list_file)}
    sets = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise SystemExit(f"--set {spec!r} must look like NAME=ROOT or NAME=ROOT:LIST")
        root, _, lst = rest.partition(":")
        sets[name] = (str(Path(root).expanduser()), lst or None)
    return sets


def run_parts(args: argparse.Namespace) -> list[dict]:
    """The face-part protocol on every test set, one report each under OUT/NAME and all rows returned."""
    from trainer.eval.parts import run

    fills = build_fills([f.strip() for f in args.fills.split(",") if f.strip()], args.weights)
    if not 0.1 <= args.zoom <= 1.0:
        raise SystemExit(f"--zoom must lie in [0.1, 1], got {args.zoom}")
    prepare = face_crop if args.zoom == 1.0 else zoomed_face_crop(args.zoom)
    sets = parse_sets(args.set, args.data, args.list)
    rows = []
    for name, (root, list_file) in sets.items():
        zoom = f"; centre {args.zoom:g} of each side kept (close-ups)" if args.zoom < 1 else ""
        header = f"Weights: {args.weights or 'bundled demo weights'}; test set {name}: {root}{zoom}\n\n"
        out = Path(args.out) / name if len(sets) > 1 else Path(args.out)
        gallery = Path(args.gallery) if args.gallery else None
        if gallery is not None and len(sets) > 1:
            gallery = gallery.with_name(f"{gallery.stem}_{name}{gallery.suffix}")
        set_rows = run(fills, collect_images(root, None, list_file), args.limit,
                       [k.strip() for k in args.parts.split(",") if k.strip()], out, prepare,
                       frechet=not args.no_frechet, header=header, gallery=gallery,
                       gallery_fills=(FILL_NAMES["native"], FILL_NAMES["telea"], FILL_NAMES["donor"]))
        rows += [dict(r, set=name) for r in set_rows]
        if args.record:
            record(Path(args.record), f"parts/{name}", set_rows, " ".join(sys.argv))
    if len(sets) > 1:
        (Path(args.out) / "parts.json").write_text(json.dumps(rows, indent=1))
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description="Hole PSNR / SSIM of IN2 against Telea, mean colour and more.")
    p.add_argument("--weights", default=None, help="export folder or Hub repo id (default: bundled demo weights)")
    p.add_argument("--data", default="synthetic", help="folder of photos (recursive), or 'synthetic'")
    p.add_argument("--list", default=None, help="file naming the test photos or person folders")
    p.add_argument("--per-person", type=int, default=0, help="1 = only the first photo of each person folder")
    p.add_argument("--limit", type=int, default=32)
    p.add_argument("--protocol", choices=("paper", "faces", "parts"), default="paper",
                   help="faces: resize to 256x256 and centre-crop to the four face settings; parts: hide face "
                        "parts at 256x256 and ask face and eye detectors whether they come back (parts_eval.py)")
    p.add_argument("--parts", default="eyes,eye,nose,mouth,inner_face", help="parts protocol: the parts to hide")
    p.add_argument("--set", action="append", default=[], metavar="NAME=ROOT[:LIST]",
                   help="parts protocol: a test set (repeatable; e.g. lfw=~/data/lfw:trainer/splits/lfw_val.txt "
                        "utk=~/data/utk:trainer/splits/utk_val.txt); replaces --data/--list")
    p.add_argument("--no-frechet", action="store_true", help="parts protocol: skip the Frechet distance")
    p.add_argument("--zoom", type=float, default=1.0,
                   help="parts protocol: keep this centred share of each photo's side before the resize "
                        "(0.6: faces 1.7x larger than the data set's framing)")
    p.add_argument("--settings", default=None, help="W x H list, e.g. 64x64,88x48 (default per protocol)")
    p.add_argument("--fills", default="native,resize,telea,mean", help=f"comma list of {', '.join(FILL_NAMES)}")
    p.add_argument("--synthetic-size", type=int, default=96)
    p.add_argument("--masks", default=None, help="fixed mask folder (default OUT/masks, generated if absent)")
    p.add_argument("--mask-seed", type=int, default=2024)
    p.add_argument("--gallery", default=None, help="also write a PNG of photo | mask | fills rows")
    p.add_argument("--gallery-count", type=int, default=4)
    p.add_argument("--out", default="runs/compare_fills")
    p.add_argument("--record", default=None, metavar="FILE",
                   help="also add the rows to this metrics file (in2/demo_weights/metrics.json: what the docs quote)")
    args = p.parse_args(argv)

    if args.protocol == "parts":
        return run_parts(args)
    faces = args.protocol == "faces"
    settings = parse_settings(args.settings or (FACE_SETTINGS if faces else "64x64,88x48,48x88"))
    prepare = face_crop if faces else centred_crop
    items = collect_images(args.data, None if args.per_person else args.limit, args.list, args.synthetic_size)
    if args.per_person:
        items = one_per_person(items)[: args.limit]
    fills = build_fills([f.strip() for f in args.fills.split(",") if f.strip()], args.weights)
    out = Path(args.out)
    mask_dir = Path(args.masks) if args.masks else out / "masks"
    rows = evaluate(fills, items, settings, mask_dir, args.mask_seed, prepare=prepare)
    header = (f"Weights: {args.weights or 'bundled demo weights'}; data: {args.data} ({len(items)} images"
              f"{', one per person' if args.per_person else ''}); masks: {mask_dir} (seed {args.mask_seed})\n\n")
    text = write_results(rows, settings, out, header)
    summary = summary_table(rows, settings)
    (out / "summary.md").write_text(header + summary)
    if args.record:
        record(Path(args.record), f"{args.protocol}/{Path(args.data).name}", rows, " ".join(sys.argv))
    print(text + "\n" + summary)
    if args.gallery:
        shown = {k: v for k, v in fills.items() if k in (FILL_NAMES["native"], FILL_NAMES["telea"])} or fills
        gallery(Path(args.gallery), items, shown, settings[-1 if faces else 0], mask_dir, prepare,
                args.gallery_count, args.mask_seed)
        print(f"wrote {args.gallery}")
    return rows


if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "compare_fills"))
