"""Command line: ``in2 inpaint IMAGE MASK -o OUT`` for one file or whole folders.

Exit codes: 0 success; 1 some files of a folder run failed (each is reported, the others
are still written); 2 a usage, input or weights error (one line, no traceback).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import __version__
from .errors import IN2Error, InputError
from .imaging import IMAGE_EXTENSIONS, check_output_path, load_image, load_mask, save_image
from .regions import DEFAULT_CONTEXT, DEFAULT_CONTEXT_MIN

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="in2",
        description="IN2 face inpainting at native resolution: fills the white part of a mask.",
    )
    parser.add_argument("--version", action="version", version=f"in2 {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    inpaint = commands.add_parser(
        "inpaint",
        help="inpaint an image (or a folder of images) with a mask (or a folder of masks)",
        description=(
            "Inpaint IMAGE where MASK is white (>= 50%% gray; a mask with transparency uses its alpha). "
            "IMAGE and MASK may be folders: masks are matched to images by file name without extension. "
            "A folder of images with one MASK file uses that mask for every image."
        ),
    )
    inpaint.add_argument("image", metavar="IMAGE", help="image file or folder of images")
    inpaint.add_argument("mask", metavar="MASK", help="mask file or folder of masks (white = fill)")
    inpaint.add_argument(
        "-o", "--output", required=True, metavar="OUT",
        help="output file (format from its extension) or, for folders, output folder",
    )
    inpaint.add_argument(
        "--weights", default=None, metavar="DIR_OR_REPO",
        help="folder or Hugging Face repo id with config.json + model.safetensors (default: bundled demo weights)",
    )
    inpaint.add_argument("--revision", default=None, metavar="REV", help="Hub revision (branch, tag or commit)")
    inpaint.add_argument(
        "--mode", choices=("native", "resize"), default="native",
        help="native: run at the image's own resolution (default); resize: run at the training size and composite at full size",
    )
    inpaint.add_argument(
        "--blend", choices=("none", "seamless"), default="none",
        help="none: paste the fill (default); seamless: colour-match it and hide the seam inside the hole",
    )
    inpaint.add_argument(
        "--crop", choices=("auto", "off", "on"), default="auto",
        help="on: inpaint a box of context around each hole region and stitch it back; off: the whole image; "
        "auto (default): crop when the image would not fit in memory, or when its holes are small in a large photo",
    )
    inpaint.add_argument(
        "--context", type=float, default=DEFAULT_CONTEXT, metavar="FACTOR",
        help=f"side of a crop box over the side of its hole region (default {DEFAULT_CONTEXT:g})",
    )
    inpaint.add_argument(
        "--context-min", type=int, default=DEFAULT_CONTEXT_MIN, metavar="PX",
        help=f"smallest side of a crop box in pixels (default {DEFAULT_CONTEXT_MIN})",
    )
    inpaint.add_argument(
        "--grow", default="0", metavar="PX_OR_PERCENT",
        help="grow the mask by this many pixels (negative shrinks), or by N%% of the image's shorter side (e.g. 1.5%%)",
    )
    inpaint.add_argument("--fill-holes", action="store_true", help="also fill unmasked gaps the mask encloses")
    inpaint.add_argument(
        "--threshold", type=float, default=0.5, metavar="T",
        help="soft (gray) masks are filled where they are at least T of white (default 0.5)",
    )
    inpaint.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    inpaint.add_argument("--dtype", choices=("fp32", "fp16", "bf16", "auto"), default="fp32", help="compute precision (default fp32)")
    inpaint.add_argument("--chunk-size", type=int, default=None, metavar="N", help="decoder pixels per step (lower = less memory)")
    inpaint.add_argument("--ext", default=".png", help="output extension for folder runs (default .png)")
    inpaint.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    return parser


_OUT_OF_MEMORY = (
    "out of memory while inpainting{where}: use --crop on (a lower --context makes the boxes smaller), "
    "--mode resize, a smaller image, a lower --chunk-size, or a GPU"
)


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    import torch

    return (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    """Warnings as one plain line, like the errors."""
    return f"in2: warning: {message}\n"


@dataclass
class _Pair:
    image: Path
    mask: Path
    output: Path


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _plan(image: Path, mask: Path, output: Path, ext: str, warn) -> list[_Pair]:
    """Image/mask/output triples for the arguments; unmatched files are reported through ``warn``."""
    if not image.exists():
        raise InputError(f"image not found: {image}")
    if not mask.exists():
        raise InputError(f"mask not found: {mask}")
    if image.is_file():
        if mask.is_dir():
            raise InputError(f"MASK is a folder ({mask}) but IMAGE is a file: pass a mask file, or a folder of images")
        if output.is_dir():
            output = output / f"{image.stem}.png"
        check_output_path(output)
        return [_Pair(image, mask, output)]

    if (output.exists() and not output.is_dir()) or (not output.exists() and output.suffix.lower() in IMAGE_EXTENSIONS):
        raise InputError(f"IMAGE is a folder, so OUT must be a folder, but {output} is a file name: pass a folder")
    ext = ext if ext.startswith(".") else f".{ext}"
    check_output_path(output / f"x{ext}")
    images = _list_images(image)
    if not images:
        raise InputError(f"no images in {image} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    if mask.is_file():
        return [_Pair(p, mask, output / f"{p.stem}{ext}") for p in images]

    masks: dict[str, list[Path]] = {}
    for path in _list_images(mask):
        masks.setdefault(path.stem, []).append(path)
    pairs = []
    for path in images:
        found = masks.get(path.stem, [])
        if not found:
            warn(f"no mask for {path.name} in {mask} (expected {path.stem}.<ext>): skipped")
        elif len(found) > 1:
            warn(f"several masks for {path.name}: {', '.join(p.name for p in found)}: skipped")
        else:
            pairs.append(_Pair(path, found[0], output / f"{path.stem}{ext}"))
    image_stems = {p.stem for p in images}
    for stem, paths in sorted(masks.items()):
        if stem not in image_stems:
            warn(f"mask {paths[0].name} has no image in {image}: unused")
    if not pairs:
        raise InputError(f"no image in {image} has a mask with the same name in {mask}")
    return pairs


def _inpaint(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .pipeline import InpaintPipeline

    def say(message: str) -> None:
        if not args.quiet:
            tqdm.write(message, file=sys.stderr)

    def warn(message: str) -> None:
        tqdm.write(f"warning: {message}", file=sys.stderr)

    pairs = _plan(Path(args.image), Path(args.mask), Path(args.output), args.ext, warn)
    pipe = InpaintPipeline.from_pretrained(args.weights, revision=args.revision, device=args.device, dtype=args.dtype)
    say(pipe.describe())
    options = dict(
        mode=args.mode, blend=args.blend, chunk_size=args.chunk_size, crop=args.crop, context=args.context,
        context_min=args.context_min, grow=args.grow, fill_holes=args.fill_holes, threshold=args.threshold,
    )

    if len(pairs) == 1 and Path(args.image).is_file():
        pair = pairs[0]
        image, mask = load_image(pair.image), load_mask(pair.mask)
        with tqdm(total=0, desc="decoding", unit="chunk", disable=args.quiet or None, file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            result = pipe(image, mask, progress=progress, **options)
        save_image(result, pair.output)
        say(f"wrote {pair.output}")
        return 0

    failed = 0
    for pair in tqdm(pairs, desc="inpainting", unit="image", disable=args.quiet or None, file=sys.stderr):
        try:
            result = pipe(load_image(pair.image), load_mask(pair.mask), **options)
            save_image(result, pair.output)
        except IN2Error as exc:
            failed += 1
            tqdm.write(f"error: {pair.image.name}: {exc}", file=sys.stderr)
        except _out_of_memory_errors():
            failed += 1
            tqdm.write(f"error: {pair.image.name}: {_OUT_OF_MEMORY.format(where='')}", file=sys.stderr)
    done = len(pairs) - failed
    say(f"wrote {done} of {len(pairs)} image(s) to {args.output}")
    if failed:
        print(f"in2: {failed} of {len(pairs)} image(s) failed (see the errors above)", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``in2`` console script and ``python -m in2``."""
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _format_warning
    try:
        if args.command == "inpaint":
            return _inpaint(args)
    except IN2Error as exc:
        print(f"in2: error: {exc}", file=sys.stderr)
        return 2
    except _out_of_memory_errors():
        print(f"in2: error: {_OUT_OF_MEMORY.format(where=f' {args.image}')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("in2: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
