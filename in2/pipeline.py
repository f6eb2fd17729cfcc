"""``InpaintPipeline``: image + mask in, inpainted image out, in the caller's own format.

It glues the pieces together: ``imaging`` (conversion both ways), ``mask_prep`` (grow, fill
enclosed gaps), ``regions`` (a context box per hole region), ``runtime`` (device, precision,
memory budget), the model, and ``compositing`` (known pixels bit-exact).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from .coarse_to_fine import coarse_guess, coarse_levels
from .compositing import paste_into_hole, prediction_reads, seamless_blend
from .errors import EmptyMaskWarning, InputError
from .imaging import read_images, read_masks
from .loader import WeightsInfo, load_model
from .mask_prep import Grow, MaskPrep
from .nn.prefill import smooth_prefill
from .numbers import as_float, as_int
from .options import BLENDS, CROPS, MODES, Blend, Crop, Mode, dtype_name, memory_advice, python_setting
from .regions import DEFAULT_CONTEXT, DEFAULT_CONTEXT_MIN, Box, check_context, crop_boxes, stitch
from .runtime import (
    DEFAULT_CHUNK_SIZE,
    autocast,
    available_memory,
    bytes_per_pixel,
    matmul_precision,
    resolve_device,
    resolve_dtype,
)
from .runtime import (
    max_pixels as budget_pixels,
)

if TYPE_CHECKING:
    from .model import IN2

__all__ = ["InpaintPipeline", "InpaintResult", "MODES", "BLENDS", "CROPS", "check_options", "MAX_CONTEXT"]

#: Bounds that keep a crop box and a decoder step finite and meaningful.
MAX_CONTEXT = 64.0
MAX_CONTEXT_MIN = 65536
MAX_CHUNK_SIZE = 1 << 26

Progress = Callable[[int, int], None]
_PROGRESS_SCALE = 1000  # per-image progress units when images of different sizes run one by one


def _pixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP" if pixels >= 100_000 else f"{pixels:,} pixels"


def _resize_reads(reads: torch.Tensor, side: int) -> torch.Tensor:
    """The pixels of a ``side``-square prediction that its bicubic resize to ``reads``'s size
    reads at the ``reads`` pixels: their footprint at ``side``, widened by the filter's reach
    (2 taps, scaled by the shrink factor when antialiasing) plus one pixel for rounding."""
    height, width = reads.shape[-2:]
    footprint = F.interpolate(reads.float(), size=(side, side), mode="area") > 0
    reach = math.ceil(2 * max(1.0, side / height, side / width)) + 1
    return F.max_pool2d(footprint.float(), 2 * reach + 1, stride=1, padding=reach) > 0


def check_options(mode: str = MODES[0], blend: str = BLENDS[0], crop: str = CROPS[0], context: Any = DEFAULT_CONTEXT,
                  context_min: Any = DEFAULT_CONTEXT_MIN, grow: Grow = 0, fill_holes: Any = False,
                  threshold: Any = 0.5, chunk_size: Any = None) -> dict[str, Any]:
    """Every option of ``InpaintPipeline.__call__`` checked and normalised (numpy and torch
    scalars, whole floats for pixel counts), so front ends can refuse bad ones before any work."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}: use 'native' or 'resize'")
    if blend not in BLENDS:
        raise InputError(f"unknown blend {blend!r}: use 'none' or 'seamless'")
    if crop not in CROPS:
        raise InputError(f"unknown crop {crop!r}: use 'auto', 'off' or 'on'")
    context = as_float(
        context, "context", f"a factor from 1 to {MAX_CONTEXT:g} (the box around a hole is context x its size)"
    )
    context_min = as_int(context_min, "context_min", f"a whole number of pixels from 1 to {MAX_CONTEXT_MIN}")
    check_context(context, context_min)
    if context > MAX_CONTEXT or context_min > MAX_CONTEXT_MIN:
        raise InputError(f"context must be at most {MAX_CONTEXT:g} and context_min at most {MAX_CONTEXT_MIN} pixels, "
                         f"got {context:g} and {context_min}")
    if chunk_size is not None:
        chunk_size = as_int(chunk_size, "chunk_size", f"a whole number of pixels from 1 to {MAX_CHUNK_SIZE}")
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise InputError(
                f"chunk_size must be a whole number of pixels from 1 to {MAX_CHUNK_SIZE}, got {chunk_size}"
            )
    prep = MaskPrep(grow=grow, fill_holes=fill_holes, threshold=threshold)
    return dict(mode=mode, blend=blend, crop=crop, context=context, context_min=context_min, grow=prep.grow,
                fill_holes=prep.fill_holes, threshold=prep.threshold, chunk_size=chunk_size)


def _warn_empty(given: list[torch.Tensor], holes: list[torch.Tensor], prep: MaskPrep) -> None:
    """Say so when a mask leaves nothing to fill: that image comes back unchanged."""
    empty = [index for index, hole in enumerate(holes) if not bool(hole.any())]
    if not empty:
        return
    where = f" in image(s) {', '.join(map(str, empty))} of {len(holes)}" if len(holes) > 1 else ""
    if any(bool(given[index].any()) for index in empty):
        why = f"the mask is empty after grow={prep.grow!r}"
    else:
        why = f"no mask pixel is at or above threshold={prep.threshold:g} of white"
    warnings.warn(f"nothing to fill{where}: {why}, so the image is returned unchanged", EmptyMaskWarning, stacklevel=3)


@dataclass(frozen=True)
class InpaintResult:
    """What ``InpaintPipeline.__call__`` returns.

    Attributes:
        image: the filled input, of the kind and size given (a PIL image, a numpy array, a
            ``[3,H,W]``/``[B,3,H,W]`` tensor, or a list of these); pixels outside the mask bit-exact.
        mask: the holes actually filled, after ``threshold``, ``grow`` and ``fill_holes``: an
            ``[H,W]`` bool tensor per image (a list for a list, ``[B,H,W]`` for a batch tensor).
        timings: seconds per stage: ``prepare`` (reading the inputs, preparing the masks,
            planning the forwards), ``inpaint`` (the forwards, compositing and the copy back to
            the caller's format, which waits for a GPU to finish) and ``total``.
    """

    image: Any
    mask: Any
    timings: dict[str, float]


@dataclass(frozen=True)
class _Piece:
    """What one model input is: image ``index``, cut to ``box`` (the whole image when not cropped)."""

    index: int
    box: Box


@dataclass
class _Job:
    """Pieces of one size that run through the model together."""

    pieces: list[_Piece]
    size: tuple[int, int]


class InpaintPipeline:
    """Fill the masked part of images with IN2, at their own resolution.

    ``pipe(image, mask)`` takes a PIL image, a numpy array, a ``[3,H,W]``/``[B,3,H,W]`` float
    tensor, or a list of these, and returns an ``InpaintResult`` whose ``image`` is the same
    kind at exactly the same size, with the pixels outside the mask bit-exact. See
    ``in2.imaging.masks`` for the mask rules.

    It runs where its weights are: ``device`` moves them at construction (None leaves them
    where they are), ``to(device)`` or anyone else moving ``model`` moves the pipeline, and
    inputs are moved to the weights' device at call time.
    """

    def __init__(
        self,
        model: IN2,
        device: str | torch.device | None = "auto",
        dtype: str | torch.dtype = "fp32",
        weights_info: WeightsInfo | None = None,
        max_pixels: int | None = None,
    ) -> None:
        # weights stay fp32; reduced precision runs under autocast (see runtime.resolve_dtype)
        self.model = model.to(dtype=torch.float32).eval()
        self._dtype_choice = dtype
        self._dtypes: dict[torch.device, torch.dtype] = {}
        if device is not None:
            self.to(device)
            # an unknown or unsupported dtype fails (or warns) here, not at the first call
            self._dtypes[self.device] = resolve_dtype(dtype, self.device)
        else:  # whoever owns the weights (ComfyUI) moves them: only the name is checked now
            resolve_dtype(dtype, "meta")
        self.weights_info = weights_info or WeightsInfo(source=f"in-memory {type(model).__name__}")
        self._max_pixels = max_pixels
        #: Native mode fills a hole deeper than this many pixels coarse to fine (``in2.coarse_to_fine``);
        #: None fills in one pass. The weights' ``coarse_reach`` sets it: weights trained to correct
        #: a coarse guess say so; others would copy its blocks into streaks.
        self.reach: float | None = getattr(getattr(model, "config", None), "coarse_reach", 0) or None

    def to(self, device: str | torch.device) -> InpaintPipeline:
        """Move the weights to ``device`` (``runtime.resolve_device`` names); returns the pipeline."""
        self.model.to(resolve_device(device))
        return self

    @property
    def device(self) -> torch.device:
        """Where the pipeline runs: where its weights are now. Whoever moves the weights (``to``,
        ComfyUI's model management) moves the pipeline; inputs follow at call time. A model
        without weights (a plain function standing in for one) runs on the CPU."""
        parameters = getattr(self.model, "parameters", None)
        weight = next(parameters(), None) if callable(parameters) else None
        return weight.device if weight is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """Compute precision on the current device (the choice is resolved once per device)."""
        device = self.device
        if device not in self._dtypes:
            self._dtypes[device] = resolve_dtype(self._dtype_choice, device)
        return self._dtypes[device]

    @classmethod
    def from_pretrained(
        cls,
        weights: str | PathLike | None = None,
        revision: str | None = None,
        device: str | torch.device | None = "auto",
        dtype: str | torch.dtype = "fp32",
        *,
        cache_dir: str | PathLike | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
    ) -> InpaintPipeline:
        """Load weights into a pipeline; the Hub options are ``IN2.from_pretrained``'s (both go
        through ``in2.loader``).

        Args:
            weights: None for the bundled demo weights, a local folder, or a Hub repo id.
            revision: a branch, tag or commit of a Hub repo.
            device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
            dtype: compute precision: ``fp32``, ``fp16``, ``bf16`` or ``auto``.

        Returns:
            A pipeline whose ``describe()`` names the weights, the device and the precision.

        Examples:
            >>> pipe = InpaintPipeline.from_pretrained()  # the bundled demo weights, offline
            >>> pipe = InpaintPipeline.from_pretrained("runs/demo/export", dtype="bf16")  # doctest: +SKIP
        """
        model, info = load_model(weights, revision=revision, cache_dir=cache_dir, force_download=force_download,
                                 token=token, local_files_only=local_files_only)
        return cls(model, device=device, dtype=dtype, weights_info=info)

    @classmethod
    def from_onnx(cls, path: str | PathLike, threads: int | None = None) -> InpaintPipeline:
        """The same pipeline with the network run by ONNX Runtime's CPU provider from a file that
        ``in2 export-onnx`` wrote (``in2.onnx_runtime.OnnxModel``); needs the ``[onnx]``
        extra. ``threads``: ONNX Runtime's intra-op threads (None = its default)."""
        from .onnx_runtime import OnnxModel

        model = OnnxModel(path, threads=threads)
        return cls(model, device=None, weights_info=WeightsInfo(source=f"ONNX file {model.path}"))  # type: ignore[arg-type]

    @classmethod
    def load(cls, weights: str | PathLike | None = None, revision: str | None = None, device: str = "auto",
             dtype: str = "fp32", onnx: str | PathLike | None = None) -> InpaintPipeline:
        """What the command line and folder runs load: ``from_onnx(onnx)`` when an ONNX file is
        named (it holds its own weights and runs on the CPU in fp32), else ``from_pretrained``."""
        if onnx is None:
            return cls.from_pretrained(weights, revision=revision, device=device, dtype=dtype)
        if weights is not None or revision is not None:
            raise InputError("an ONNX file holds its own weights: leave out --weights/--revision with --onnx "
                             "(export other weights with `in2 export-onnx OUT.onnx --weights ...`)")
        if str(device).strip().lower() not in ("auto", "cpu"):
            raise InputError(f"--onnx runs on the CPU (ONNX Runtime), not on {device}: leave out --device or pass cpu")
        if str(dtype).strip().lower() not in ("fp32", "float32"):
            raise InputError(f"--onnx computes in fp32, not {dtype}: leave out --dtype")
        return cls.from_onnx(onnx)

    @property
    def backend(self) -> str:
        """What computes the network: ``"torch"``, or ``"onnx"`` (ONNX Runtime, ``from_onnx``)."""
        return getattr(self.model, "backend", "torch")

    # ------------------------------------------------------------------ budget

    @property
    def max_pixels(self) -> int | None:
        """Most output pixels (batch x H x W) one forward may take here, from the memory
        available now (None = unknown, not enforced). Assign an int to override it."""
        if self._max_pixels is not None:
            return self._max_pixels
        return budget_pixels(self.device, self.dtype, backend=self.backend)

    @max_pixels.setter
    def max_pixels(self, value: int | None) -> None:
        self._max_pixels = value

    def _check_budget(self, height: int, width: int, limit: int | None, mode: str) -> None:
        if limit is None or height * width <= limit:
            return
        if mode == "resize":
            what = f"even resize mode ({width}x{height} model input, {_pixels(height * width)})"
        else:
            what = f"the image is {width}x{height} ({_pixels(height * width)})"
        per_pixel = bytes_per_pixel(self.device, self.dtype, self.backend)
        if self._max_pixels is not None:
            why = "the max_pixels limit set on this pipeline"
        else:
            free = available_memory(self.device)
            why = (
                f"not enough memory: about {per_pixel} bytes per output pixel, "
                f"{(free or 0) / 2**30:.1f} GiB available"
            )
        raise InputError(
            f"too large to inpaint on {self.device} ({dtype_name(self.dtype)}): {what}, but the limit is "
            f"{_pixels(limit)} ({why}). Ways out: "
            + memory_advice(python_setting, offered=("crop", "context", "mode", "device"))
        )

    # ------------------------------------------------------------------ running

    @property
    def train_resolution(self) -> int:
        config = getattr(self.model, "config", None)
        size = getattr(config, "train_resolution", None)
        if size is None and isinstance(config, dict):
            size = config.get("train_resolution")
        return int(size or 512)

    def _predict(
        self, image: torch.Tensor, hole: torch.Tensor, mode: str, blend: str, chunk_size: int, progress: Progress | None
    ) -> torch.Tensor:
        """Raw model prediction ``[b,3,H,W]`` float32 at the input's size, exact wherever
        compositing with ``blend`` reads it (only there is it decoded; 0 elsewhere)."""
        height, width = image.shape[-2:]
        reads = prediction_reads(hole, blend)
        if mode == "resize":
            side = self.train_resolution
            # the resize spreads each pixel over its neighbours: what the hole hides must not
            # reach the known pixels around it, so the hole is first filled from its border
            image = smooth_prefill(image, hole.float())
            model_image = F.interpolate(image, size=(side, side), mode="bicubic", antialias=True, align_corners=False)
            model_image = model_image.clamp(0, 1)
            # any hole pixel marks its low-resolution pixel as a hole: a partly known pixel
            # would otherwise show the model a blend of the content that is to be removed
            model_hole = (F.interpolate(hole.float(), size=(side, side), mode="area") > 0).float()
            model_reads = _resize_reads(reads, side)
        else:
            model_image, model_hole, model_reads = image, hole.float(), reads
        with autocast(image.device, self.dtype), matmul_precision(image.device, self.dtype):
            guess = self._coarse_guess(model_image, model_hole, chunk_size) if mode == "native" else None
            extra = {} if guess is None else {"guess": guess}
            pred = self.model(
                model_image, model_hole, chunk_size=chunk_size, progress=progress, decode_only=model_reads, **extra
            )
        pred = pred.float()
        if mode == "resize":
            shrink = height < pred.shape[-2] or width < pred.shape[-1]
            pred = F.interpolate(pred, size=(height, width), mode="bicubic", antialias=shrink, align_corners=False)
            pred = pred.clamp(0, 1)
        return pred

    def _coarse_guess(self, image: torch.Tensor, hole: torch.Tensor, chunk_size: int) -> torch.Tensor | None:
        """The coarser passes' fill of a hole wider than ``reach`` (None: one pass is enough, or
        the weights take no guess)."""
        config = getattr(self.model, "config", None)
        if self.reach is None or getattr(config, "hole_prefill", None) != "smooth":
            return None
        levels = coarse_levels(hole, self.reach, *image.shape[-2:])
        if not levels:
            return None

        def predict(small: torch.Tensor, small_hole: torch.Tensor, guess: torch.Tensor | None) -> torch.Tensor:
            extra = {} if guess is None else {"guess": guess}
            return self.model(small, small_hole, chunk_size=chunk_size, decode_only=small_hole, **extra)

        return coarse_guess(predict, image, hole, levels)

    def _model_size(self, box: Box, mode: str) -> tuple[int, int]:
        return (self.train_resolution,) * 2 if mode == "resize" else (box.height, box.width)

    def _boxes(self, hole: torch.Tensor, mode: str, crop: str, context: float, context_min: int,
               limit: int | None) -> list[Box]:
        """Where to run the model for one image: the whole image, or a context box per hole region."""
        model_h, model_w = self._model_size(Box(0, 0, *hole.shape), mode)
        return crop_boxes(hole, crop, context, context_min, whole_fits=limit is None or model_h * model_w <= limit)

    def _jobs(self, pieces: list[_Piece], mode: str, limit: int | None) -> list[_Job]:
        """Group pieces of equal size (first-seen order) and split groups to fit the budget."""
        groups: dict[tuple[int, int], list[_Piece]] = {}
        for piece in pieces:
            groups.setdefault((piece.box.height, piece.box.width), []).append(piece)
        jobs = []
        for size, members in groups.items():
            model_h, model_w = self._model_size(members[0].box, mode)
            self._check_budget(model_h, model_w, limit, mode)
            per_job = len(members) if limit is None else max(1, limit // (model_h * model_w))
            for start in range(0, len(members), per_job):
                jobs.append(_Job(members[start : start + per_job], size))
        return jobs

    def __call__(
        self,
        image: Any,
        mask: Any,
        *,
        mode: Mode = "native",
        blend: Blend = "none",
        crop: Crop = "auto",
        context: float = DEFAULT_CONTEXT,
        context_min: int = DEFAULT_CONTEXT_MIN,
        grow: Grow = 0,
        fill_holes: bool = False,
        threshold: float = 0.5,
        chunk_size: int | None = None,
        progress: Progress | None = None,
    ) -> InpaintResult:
        """Inpaint ``image`` where ``mask`` is set, at the image's own size.

        Args:
            image: a PIL image, a numpy array, a ``[3,H,W]``/``[B,3,H,W]`` float tensor in [0, 1],
                or a list of these (sizes may differ).
            mask: white (or True, or 1) = fill; one per image, or one for all
                (``in2.imaging.masks`` has the rules).
            mode: ``native`` runs the model at the image's own resolution; ``resize`` runs it at
                ``config.train_resolution`` squared (bicubic with antialiasing down, bicubic up; the
                mask is shrunk so any hole pixel makes a hole) and composites at full size.
            blend: ``none`` pastes the prediction into the hole; ``seamless`` colour-matches it to
                the surroundings and hides the seam inside the hole (``compositing.seamless_blend``).
            crop: ``on`` inpaints each hole region inside its own context box (``regions``) and
                stitches it back; ``off`` runs the whole image; ``auto`` crops when the whole image
                would not fit in memory, or when it has at least ``regions.AUTO_CROP_MIN_PIXELS``
                and its boxes cover at most ``regions.AUTO_CROP_SHARE`` of it.
            context: a crop box's side over its hole region's side.
            context_min: the smallest side of a crop box in pixels (at most the image's).
            grow: pixels (or ``"N%"`` of the shorter side) to grow the mask by; negative shrinks it.
            fill_holes: also fill unmasked gaps the mask encloses.
            threshold: a soft mask is filled where it is at least this much of white.
            chunk_size: decoder queries evaluated at once (default ``runtime.DEFAULT_CHUNK_SIZE``).
            progress: ``progress(done, total)`` after every decoded chunk; may raise to stop. When
                several forwards run (images of different sizes, or a batch split to fit memory)
                the counts are scaled to ``1000`` per forward.

        Returns:
            An ``InpaintResult``: the filled ``image`` (the kind given), the ``mask`` actually
            filled and the ``timings`` of the stages. An empty mask (also one that threshold or
            grow leaves empty) gives a copy of the input without running the model, with an
            ``EmptyMaskWarning``; a full mask runs the model on the mask alone (nothing is known).

        Examples:
            >>> from in2 import InpaintPipeline
            >>> from in2.imaging import load_image, load_mask
            >>> pipe = InpaintPipeline.from_pretrained()  # the bundled demo weights
            >>> result = pipe(load_image("face.jpg"), load_mask("mask.png"), blend="seamless")  # doctest: +SKIP
            >>> result.image.save("filled.png")  # exactly the size of face.jpg  # doctest: +SKIP
        """
        start = time.perf_counter()
        options = check_options(mode, blend, crop, context, context_min, grow, fill_holes, threshold, chunk_size)
        context, context_min = options["context"], options["context_min"]
        chunk = options["chunk_size"] or DEFAULT_CHUNK_SIZE
        prep = MaskPrep(grow=options["grow"], fill_holes=options["fill_holes"], threshold=options["threshold"])

        batch = read_images(image)
        given = read_masks(mask, batch.sizes, prep.threshold)
        holes = [prep.apply(hole) for hole in given]
        _warn_empty(given, holes, prep)
        limit = self.max_pixels
        pieces = [
            _Piece(index, box)
            for index, hole in enumerate(holes)
            if bool(hole.any())
            for box in self._boxes(hole, mode, crop, context, context_min, limit)
        ]
        jobs = self._jobs(pieces, mode, limit)
        planned = time.perf_counter()
        results = self._run(jobs, batch.tensors, holes, mode, blend, chunk, progress)
        restored = batch.restore(results, holes)
        done = time.perf_counter()
        timings = {"prepare": planned - start, "inpaint": done - planned, "total": done - start}
        return InpaintResult(restored, batch.restore_masks(holes), timings)

    def _run(
        self, jobs: list[_Job], tensors: list[torch.Tensor], holes: list[torch.Tensor], mode: str, blend: str,
        chunk: int, progress: Progress | None,
    ) -> list[torch.Tensor | None]:
        """Every job through the model, composited and stitched into its image (None: untouched)."""
        results: list[torch.Tensor | None] = [None] * len(tensors)
        device = self.device
        with torch.inference_mode():
            for number, job in enumerate(jobs):
                crops = [tensors[p.index][(slice(None),) + p.box.slices].to(device) for p in job.pieces]
                # one piece: a view, not a copy (a 3840x2160 photo is 100 MB in float32)
                images = (crops[0][None] if len(crops) == 1 else torch.stack(crops)).to(torch.float32)
                job_holes = torch.stack([holes[p.index][p.box.slices].to(device) for p in job.pieces])[:, None]
                report = self._job_progress(progress, number, len(jobs))
                pred = self._predict(images, job_holes, mode, blend, chunk, report)
                if blend == "seamless":
                    filled = seamless_blend(images, pred, job_holes)
                else:
                    filled = paste_into_hole(images, pred, job_holes)
                for slot, piece in enumerate(job.pieces):
                    results[piece.index] = stitch(
                        results[piece.index], tensors[piece.index], piece.box, filled[slot]
                    )
        return results

    @staticmethod
    def _job_progress(progress: Progress | None, number: int, count: int) -> Progress | None:
        if progress is None or count == 1:
            return progress

        def report(done: int, total: int) -> None:
            part = done * _PROGRESS_SCALE // max(total, 1)
            progress(number * _PROGRESS_SCALE + part, count * _PROGRESS_SCALE)

        return report

    # ------------------------------------------------------------------ description

    def describe(self) -> str:
        """Which weights run where, in one line (CLI, demo header, logs)."""
        limit = self.max_pixels
        limit_text = f", up to {_pixels(limit)} per forward" if limit is not None else ""
        if self.backend == "onnx":
            return f"IN2 in ONNX Runtime with {self.weights_info.summary()}; cpu, fp32{limit_text}"
        params = sum(p.numel() for p in self.model.parameters())
        return (
            f"IN2 ({params / 1e6:.2f}M parameters) with {self.weights_info.summary()}; "
            f"{self.device}, {dtype_name(self.dtype)}{limit_text}"
        )

    def __repr__(self) -> str:
        return f"InpaintPipeline({self.describe()})"
