"""Command line: ``in2 inpaint IMAGE MASK -o OUT`` for one file or whole folders,
``in2 batch IMAGES MASKS -o OUT`` for folder trees (``in2.batch``; folders of ``inpaint`` use it),
and ``in2 export-onnx OUT.onnx`` (``in2.onnx_export``; ``--onnx`` runs such a file).

Exit codes: 0 success; 1 some files of a folder run failed (each is reported, the others
are still written); 2 a usage, input or weights error (one line, no traceback).
No command writes over one of its inputs.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .batch import BatchJob, pipeline_options, run_batch
from .batch.plan import LOG_FOLDER
from .errors import IN2Error, InputError
from .imaging import check_not_an_input, check_output_path, load_image, load_mask, output_fit, save_image
from .options import BLENDS, CROPS, DTYPE_CHOICES, MODES, OUT_OF_MEMORY, out_of_memory_errors
from .progress import progress_bar
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
            "Inpaint IMAGE where MASK is white (>= 50% gray; a mask with transparency uses its alpha). "
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
    _add_model_options(inpaint)
    inpaint.add_argument("--ext", default=".png", help="output extension for folder runs (default .png)")
    inpaint.add_argument(
        "--overwrite", action="store_true",
        help="replace an output file that already exists (by default an existing file is never written over)",
    )
    inpaint.add_argument("-q", "--quiet", action="store_true", help="print errors only")

    export = commands.add_parser(
        "export-onnx",
        help="write the model as one ONNX file that ONNX Runtime runs at any height and width",
        description=(
            "Write the network (encoder, attention body, hole-aware decoder) as one ONNX file with dynamic "
            "batch, height and width; `in2 inpaint ... --onnx OUT.onnx` runs it with ONNX Runtime. "
            "Mask preparation, the hole pre-fill, crops and compositing stay in Python (docs/onnx.md). "
            "Needs pip install -e '.[onnx]'."
        ),
    )
    export.add_argument("output", metavar="OUT.onnx", help="the ONNX file to write")
    export.add_argument(
        "--weights", default=None, metavar="DIR_OR_REPO",
        help="folder or Hugging Face repo id with config.json + model.safetensors (default: bundled demo weights)",
    )
    export.add_argument("--revision", default=None, metavar="REV", help="Hub revision (branch, tag or commit)")
    export.add_argument("--opset", type=int, default=None, metavar="N", help="ONNX opset (default 17)")
    export.add_argument("--overwrite", action="store_true", help="replace OUT.onnx when it already exists")
    export.add_argument("-q", "--quiet", action="store_true", help="print errors only")

    batch = commands.add_parser(
        "batch",
        help="inpaint a folder tree of images: resumable, on one process or many (accelerate launch -m in2.batch)",
        description=(
            "Inpaint every image under IMAGES (recursively) with its mask, mirroring relative paths under OUT. "
            "Finished outputs are skipped, so a rerun resumes; outputs are written atomically. "
            "Under `accelerate launch ... -m in2.batch` or `torchrun ... -m in2.batch` the work is shared "
            "by every process. Exit code 1 when any image failed (see the logs)."
        ),
    )
    _add_batch_arguments(batch)
    _add_model_options(batch)
    batch.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    return parser


def _add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``in2 batch`` (also what ``python -m in2.batch`` takes)."""
    parser.add_argument(
        "images", metavar="IMAGES", help="folder of images (searched recursively), local or an fsspec URL"
    )
    parser.add_argument(
        "masks",
        metavar="MASKS",
        help="folder of masks mirroring IMAGES (same relative name, any image extension), or one mask file for all",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output folder: results mirror the relative paths under IMAGES",
    )
    parser.add_argument(
        "--list",
        dest="list_file",
        default=None,
        metavar="FILE",
        help="inpaint only these images: a text file of paths relative to IMAGES, one a line",
    )
    parser.add_argument(
        "--ext", default=None, help="output format for every result, e.g. .png (default: each input's own format)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the shuffle that spreads images over processes (default 0)"
    )
    parser.add_argument(
        "--group",
        type=int,
        default=16,
        metavar="N",
        help="images read at a time per process; equal sizes among them run as one batch (default 16)",
    )
    parser.add_argument(
        "--log-dir",
        default=None,
        metavar="DIR",
        help=f"plan, per-process JSONL logs and summary (default OUT/{LOG_FOLDER}, or ./in2-batch-logs for a URL OUT)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1440.0,
        metavar="MIN",
        help="how long a process waits for the others (planning, the end), minutes (default 1440)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo every image and replace outputs already in OUT, also files no run wrote "
        "(default: finished outputs are kept, other files are never replaced)",
    )


def job_from_args(args: argparse.Namespace, **overrides) -> BatchJob:
    """A ``BatchJob`` from parsed arguments; fields the parser lacks keep their defaults."""
    values = {k: v for k, v in vars(args).items() if k in BatchJob.__dataclass_fields__}
    if getattr(args, "timeout", None) is not None:
        values["timeout_minutes"] = args.timeout
    values.update(overrides)
    return BatchJob(**values)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Weights, device and inference options shared by ``inpaint`` and ``batch``."""
    parser.add_argument(
        "--weights", default=None, metavar="DIR_OR_REPO",
        help="folder or Hugging Face repo id with config.json + model.safetensors (default: bundled demo weights)",
    )
    parser.add_argument("--revision", default=None, metavar="REV", help="Hub revision (branch, tag or commit)")
    parser.add_argument(
        "--onnx",
        default=None,
        metavar="FILE",
        help="run the network from this `in2 export-onnx` file with ONNX Runtime on the CPU instead of torch "
        "(needs pip install -e '.[onnx]'; the file holds its weights: no --weights)",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=MODES[0],
        help="native: run at the image's own resolution (default); "
        "resize: run at the training size and composite at full size",
    )
    parser.add_argument(
        "--blend", choices=BLENDS, default=BLENDS[0],
        help="none: paste the fill (default); seamless: colour-match it and hide the seam inside the hole",
    )
    parser.add_argument(
        "--crop", choices=CROPS, default=CROPS[0],
        help="on: inpaint a box of context around each hole region and stitch it back; off: the whole image; "
        "auto (default): crop when the image would not fit in memory, or when its holes are small in a large photo",
    )
    parser.add_argument(
        "--context", type=float, default=DEFAULT_CONTEXT, metavar="FACTOR",
        help=f"side of a crop box over the side of its hole region (default {DEFAULT_CONTEXT:g})",
    )
    parser.add_argument(
        "--context-min", type=int, default=DEFAULT_CONTEXT_MIN, metavar="PX",
        help=f"smallest side of a crop box in pixels (default {DEFAULT_CONTEXT_MIN})",
    )
    parser.add_argument(
        "--grow", default="0", metavar="PX_OR_PERCENT",
        help="grow the mask by this many pixels (negative shrinks), or by N%% of the image's shorter side (e.g. 1.5%%)",
    )
    parser.add_argument("--fill-holes", action="store_true", help="also fill unmasked gaps the mask encloses")
    parser.add_argument(
        "--threshold", type=float, default=0.5, metavar="T",
        help="soft (gray) masks are filled where they are at least T of white (default 0.5)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="fp32", help="compute precision (default fp32)")
    parser.add_argument(
        "--chunk-size", type=int, default=None, metavar="N", help="decoder pixels per step (lower = less memory)"
    )


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one plain line on stderr, like the errors."""
    print(f"in2: warning: {message}", file=sys.stderr)


@dataclass
class _Pair:
    image: Path
    mask: Path
    output: Path


def _plan_file(image: Path, mask: Path, output: Path, overwrite: bool = False) -> _Pair:
    """The image/mask/output triple of a one-file run; an existing output is replaced only
    with ``overwrite``."""
    if not image.exists():
        raise InputError(f"image not found: {image}")
    if not mask.exists():
        raise InputError(f"mask not found: {mask}")
    if mask.is_dir():
        raise InputError(f"MASK is a folder ({mask}) but IMAGE is a file: pass a mask file, or a folder of images")
    if output.is_dir():
        output = output / f"{image.stem}.png"
    check_output_path(output)
    check_not_an_input(output, {"image": image, "mask": mask})
    if output.exists() and not overwrite:
        raise InputError(
            f"{output} already exists and is left as it is: choose another -o, or pass --overwrite to replace it"
        )
    return _Pair(image, mask, output)


def _inpaint(args: argparse.Namespace) -> int:
    if Path(args.image).is_dir():  # folders: the batch runner (recursive, resumable, atomic)
        return run_batch(job_from_args(args, images=args.image, masks=args.mask))

    from tqdm.auto import tqdm

    from .pipeline import InpaintPipeline, check_options

    def say(message: str) -> None:
        if not args.quiet:
            tqdm.write(message, file=sys.stderr)

    check_options(**pipeline_options(args))
    pair = _plan_file(Path(args.image), Path(args.mask), Path(args.output), args.overwrite)
    image, mask = load_image(pair.image), load_mask(pair.mask)
    fit = output_fit(image, pair.output)  # a format that cannot hold the photo stops here, before inference
    if fit.note:
        warnings.warn(fit.note, stacklevel=1)
    pipe = InpaintPipeline.load(args.weights, args.revision, args.device, args.dtype, onnx=args.onnx)
    say(pipe.describe())
    with progress_bar(0, "decoding", "chunk", not args.quiet) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        result = pipe(image, mask, progress=progress, **pipeline_options(args)).image
    save_image(result, pair.output, fit)
    say(f"wrote {pair.output}")
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from .loader import load_model
    from .model import IN2
    from .onnx_export import DEFAULT_OPSET, export_onnx

    model, info = load_model(args.weights, revision=args.revision)
    if not isinstance(model, IN2):
        raise InputError(f"only IN2 weights export to ONNX; {info.summary()} holds a {type(model).__name__}")
    path = export_onnx(model, args.output, opset=DEFAULT_OPSET if args.opset is None else args.opset,
                       overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {path} ({info.summary()})", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``in2`` console script and ``python -m in2``."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():  # the process's own filters decide which warnings show, -q none
        warnings.showwarning = _show_warning
        if getattr(args, "quiet", False):
            warnings.simplefilter("ignore")
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command, with every error the user can act on as one line and exit code 2."""
    try:
        if args.command == "inpaint":
            return _inpaint(args)
        if args.command == "batch":
            return run_batch(job_from_args(args))
        if args.command == "export-onnx":
            return _export_onnx(args)
    except IN2Error as exc:
        print(f"in2: error: {exc}", file=sys.stderr)
        return 2
    except out_of_memory_errors():
        where = getattr(args, "image", None) or getattr(args, "images", None) or args.output
        print(f"in2: error: {OUT_OF_MEMORY.format(where=f' {where}')}", file=sys.stderr)
        return 2
    except OSError as exc:  # storage the core did not name (a log folder, a busy device): still one line
        print(f"in2: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("in2: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
