"""Batch inpainting of a folder tree (or a list of files), on one process or many machines.

One implementation behind three entry points: ``in2 batch IMAGES MASKS -o OUT`` (one
process), ``accelerate launch [...] -m in2.batch IMAGES MASKS -o OUT`` and the same under
``torchrun`` (many processes, one or many machines); ``in2 inpaint`` with folders uses it too.
The command line (``in2.cli``) parses the options and hands a ``BatchJob`` to ``run_batch``.

The main process plans (``in2.batch.plan``), every process takes its shard, groups equal-size
images and runs them through ``InpaintPipeline`` (whose memory budget splits the batch).
Outputs are written atomically, so a rerun after any kill finishes the job without
truncated files and without redoing finished ones. A bad file is logged and skipped; the
exit code is 1 when anything failed.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from .. import storage
from ..errors import EMPTY_MASK_NOTE, EmptyMaskWarning, IN2Error, InputError, StorageError
from ..imaging import Fit, encode_image, output_fit, read_image_file
from ..mask_prep import parse_grow
from ..options import OUT_OF_MEMORY, out_of_memory_errors
from ..progress import progress_bar
from ..regions import DEFAULT_CONTEXT, DEFAULT_CONTEXT_MIN
from .lock import OutputLock, check_log_folder, claim_log_folder
from .log import Log, checksum, read_history
from .plan import LOG_FOLDER, Plan, Task, check_folders, make_plan, output_extension, shard
from .processes import Processes, join_processes

__all__ = ["BatchJob", "pipeline_options", "made_with", "run_batch", "PIPELINE_OPTIONS"]

Say = Callable[[str], None]


@dataclass
class BatchJob:
    """Everything one batch run needs; ``ext`` None keeps each input's format."""

    images: str
    masks: str
    output: str
    ext: str | None = None
    list_file: str | None = None
    weights: str | None = None
    revision: str | None = None
    onnx: str | None = None  # an `in2 export-onnx` file run by ONNX Runtime instead of the weights
    device: str = "auto"
    dtype: str = "fp32"
    mode: str = "native"
    blend: str = "none"
    chunk_size: int | None = None
    crop: str = "auto"
    context: float = DEFAULT_CONTEXT
    context_min: int = DEFAULT_CONTEXT_MIN
    grow: str = "0"
    fill_holes: bool = False
    threshold: float = 0.5
    seed: int = 0
    group: int = 16
    log_dir: str | None = None
    timeout_minutes: float = 1440.0
    quiet: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        """Refuse settings that cannot give a finite, meaningful run, before any work."""
        self.ext = output_extension(self.ext)
        if isinstance(self.group, bool) or not isinstance(self.group, int) or not 1 <= self.group <= MAX_GROUP:
            raise InputError(f"--group must be a whole number of images from 1 to {MAX_GROUP}, got {self.group!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"--seed must be a whole number, got {self.seed!r}")
        if not 0 < self.timeout_minutes <= MAX_TIMEOUT_MINUTES:  # NaN fails too
            raise InputError(
                f"--timeout must be more than 0 and at most {MAX_TIMEOUT_MINUTES} minutes (a week), "
                f"got {self.timeout_minutes!r}"
            )
        from ..pipeline import check_options

        check_options(**pipeline_options(self))


MAX_GROUP = 1024
MAX_TIMEOUT_MINUTES = 7 * 24 * 60


@dataclass
class _Stats:
    rank: int
    threads: int = 0  # torch's CPU threads: the last bit of a CPU fill can depend on it
    done: int = 0
    failed: int = 0
    stopped: str = ""  # why this process stopped early (the output cannot be written)
    pixels: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


# Keyword arguments of InpaintPipeline.__call__ that a run passes through unchanged.
PIPELINE_OPTIONS = ("mode", "blend", "chunk_size", "crop", "context", "context_min", "grow", "fill_holes", "threshold")


def pipeline_options(source: object) -> dict:
    """The pipeline keyword arguments held by ``source`` (parsed arguments or a ``BatchJob``)."""
    return {name: getattr(source, name) for name in PIPELINE_OPTIONS}


def made_with(job: BatchJob) -> dict:
    """The options that decide an output's pixels, recorded with every output (``in2.batch.log``).

    ``grow`` is recorded by value (``0.0`` and ``0`` are one choice)."""
    weights = job.weights or "bundled demo weights"
    if job.weights and not storage.is_url(job.weights) and Path(job.weights).exists():
        weights = str(Path(job.weights).resolve())
    amount, relative = parse_grow(job.grow)
    made = dict(weights=weights, revision=job.revision, dtype=job.dtype, mode=job.mode, blend=job.blend,
                crop=job.crop, context=job.context, context_min=job.context_min,
                grow=f"{amount:g}%" if relative else f"{amount:g}", fill_holes=job.fill_holes, threshold=job.threshold)
    if job.onnx:  # only then: logs of runs without it read back as before
        made["onnx"] = str(Path(job.onnx).resolve())
    return made


# ------------------------------------------------------------------ planning


def _log_dir(job: BatchJob) -> Path:
    if job.log_dir:
        return Path(job.log_dir)
    return Path("in2-batch-logs") if storage.is_url(job.output) else Path(job.output) / LOG_FOLDER


def _print_some(lines: list[str], write: Say, limit: int = 20) -> None:
    """The first ``limit`` lines, then a count: a million unmatched files must not flood the terminal."""
    for line in lines[:limit]:
        write(line)
    if len(lines) > limit:
        write(f"... and {len(lines) - limit} more like these")


def _shared_plan(job: BatchJob, group: Processes, lock: OutputLock, say: Say, warn: Say, error: Say) -> Plan:
    """Lock OUT and plan on the main process, and hand the plan (or its error) to every process."""
    outcome: Plan | str
    folder = _log_dir(job)
    if group.is_main:
        try:
            check_folders(job.images, job.masks, job.output)  # before the lock and logs create anything
            check_log_folder(folder, default=job.log_dir is None)
            lock.acquire()
            try:
                outcome = make_plan(job.images, job.masks, job.output, ext=job.ext, list_file=job.list_file,
                                    history=read_history(folder, job.output), options=made_with(job),
                                    overwrite=job.overwrite)
            except IN2Error:
                lock.abandon()  # nothing was planned: leave no folder behind
                raise
            claim_log_folder(folder)
            storage.write_atomic(str(folder / "plan.jsonl"), outcome.to_jsonl().encode())
        except IN2Error as exc:
            outcome = f"{type(exc).__name__}:{exc}"
    else:
        outcome = ""
    outcome = group.broadcast(outcome)
    if isinstance(outcome, str):
        kind, _, message = outcome.partition(":")
        raise (StorageError if kind == StorageError.__name__ else InputError)(message)
    if group.is_main:
        _print_some(outcome.notes, warn)
        _print_some([f"{why}: skipped" for _, why in outcome.skipped], warn)
        _print_some([f"{name}: {why}" for name, why in outcome.failed], error)
        say(
            f"plan: {len(outcome.tasks)} to inpaint, {len(outcome.done)} already done, "
            f"{len(outcome.skipped)} skipped, {len(outcome.failed)} failed; {group.count} process(es)"
        )
    return outcome


# ------------------------------------------------------------------ working


def _groups(tasks: list[Task], size: int) -> Iterator[list[Task]]:
    for start in range(0, len(tasks), max(1, size)):
        yield tasks[start : start + size]


@dataclass
class _Item:
    """One loaded image of a shard: its task, pixels, mask and how its output format takes it."""

    task: Task
    image: object
    mask: object
    fit: Fit


class _Worker:
    """Inpaints one process's shard, logging one JSON line per image."""

    def __init__(self, job: BatchJob, pipe, log: Log, warn: Say, error: Say, stats: _Stats,
                 progress: Callable[[int], None]) -> None:
        self.job, self.pipe, self.log, self.stats = job, pipe, log, stats
        self.warn, self.error, self.progress = warn, error, progress
        self._mask_cache: tuple[str, object] | None = None
        self._options = made_with(job)
        self._out = storage.resolve(job.output)
        self._noted: set[str] = set()

    def _record(self, task: Task, status: str, **extra) -> None:
        self.log.write(name=task.name, output=task.output, status=status, **extra)

    def _note(self, note: str) -> None:
        """A warning about the outputs (lossy format, fewer bits), said once per run and process."""
        if note not in self._noted:
            self._noted.add(note)
            self.warn(note)

    def _save(self, item: _Item, result, filled, seconds: float) -> None:
        """Encode, record what is about to be written (so a rerun knows it as this job's), write."""
        task, (width, height) = item.task, item.image.size
        try:
            data = encode_image(result, task.output, item.fit)
        except IN2Error as exc:
            self._fail(task, f"cannot write {task.output}: {exc}")
            return
        self._record(task, "writing", out=self._out, written=task.relative, bytes=len(data), sha256=checksum(data),
                     threads=self.stats.threads, options=self._options)
        storage.write_atomic(task.output, data)
        self.stats.done += 1
        self.stats.pixels += width * height
        extra = {}
        if not bool(filled.any()):
            extra["note"] = EMPTY_MASK_NOTE
            self.warn(f"{task.name}: {EMPTY_MASK_NOTE}")
        self._record(task, "done", size=[width, height], seconds=round(seconds, 4), **extra)
        self.progress(1)

    def _fail(self, task: Task, reason: str) -> None:
        self.stats.failed += 1
        self.stats.errors.append(f"{task.name}: {reason}")
        self._record(task, "failed", reason=reason)
        self.error(f"{task.name}: {reason}")
        self.progress(1)

    def _mask(self, path: str):
        if self._mask_cache is None or self._mask_cache[0] != path:
            self._mask_cache = (path, read_image_file(path, "mask"))
        return self._mask_cache[1]

    def _load(self, tasks: list[Task]) -> dict[tuple[int, int], list[_Item]]:
        """Readable pairs of matching size whose output format can hold them, grouped by size;
        the others are failed here, before any inference."""
        by_size: dict[tuple[int, int], list[_Item]] = {}
        for task in tasks:
            try:
                image, mask = read_image_file(task.image, "image"), self._mask(task.mask)
                if mask.size != image.size:
                    raise InputError(f"mask is {mask.width}x{mask.height} but the image is "
                                     f"{image.width}x{image.height} ({task.mask})")
                fit = output_fit(image, task.output)
            except IN2Error as exc:
                self._fail(task, str(exc))
                continue
            if fit.note:
                self._note(fit.note)
            by_size.setdefault(image.size, []).append(_Item(task, image, mask, fit))
        return by_size

    def run(self, tasks: list[Task]) -> None:
        """Inpaint ``tasks``, counting each written or failed image on ``progress``; an output that
        cannot be written (full disk, no permission) stops the run."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EmptyMaskWarning)  # said per file name in _save
                self._run(tasks)
        except StorageError as exc:  # reported once, by run_batch, when every process has stopped
            self.stats.stopped = str(exc)

    def _run(self, tasks: list[Task]) -> None:
        options = pipeline_options(self.job)
        for window in _groups(tasks, self.job.group):
            for items in self._load(window).values():
                start = time.perf_counter()
                try:
                    outcome = self.pipe([i.image for i in items], [i.mask for i in items], **options)
                    results, filled = outcome.image, outcome.mask
                except IN2Error as exc:
                    for item in items:
                        self._fail(item.task, str(exc))
                    continue
                except out_of_memory_errors():
                    for item in items:
                        self._fail(item.task, OUT_OF_MEMORY.format(where=""))
                    continue
                seconds = (time.perf_counter() - start) / len(items)
                for item, result, hole in zip(items, results, filled, strict=True):
                    self._save(item, result, hole, seconds)


def _summary(job: BatchJob, plan: Plan, all_stats: list[_Stats]) -> dict:
    seconds = max((s.seconds for s in all_stats), default=0.0)
    done, failed = sum(s.done for s in all_stats), sum(s.failed for s in all_stats) + len(plan.failed)
    pixels = sum(s.pixels for s in all_stats)
    return dict(
        processes=len(all_stats), planned=len(plan.tasks), done=done, already_done=len(plan.done),
        skipped=len(plan.skipped), failed=failed, stopped=[s.stopped for s in all_stats if s.stopped],
        seconds=round(seconds, 3),
        images_per_s=round(done / seconds, 4) if seconds else None,
        megapixels_per_s=round(pixels / 1e6 / seconds, 4) if seconds else None,
        threads=sorted({s.threads for s in all_stats}),
        per_process=[
            dict(rank=s.rank, threads=s.threads, done=s.done, failed=s.failed, seconds=round(s.seconds, 3),
                 images_per_s=round(s.done / s.seconds, 4) if s.seconds else None,
                 megapixels_per_s=round(s.pixels / 1e6 / s.seconds, 4) if s.seconds else None)
            for s in all_stats
        ],
        options=dict(pipeline_options(job), dtype=job.dtype, ext=job.ext, seed=job.seed),
    )


def run_batch(job: BatchJob, say: Say | None = None, warn: Say | None = None) -> int:
    """Run ``job`` on this process's share; returns the exit code (0, or 1 if anything failed)."""
    import torch
    from tqdm.auto import tqdm

    from ..pipeline import InpaintPipeline

    group = join_processes(job.device, timeout=timedelta(minutes=job.timeout_minutes))
    prefix = f"[{group.rank}/{group.count}] " if group.count > 1 else ""

    def error(message: str) -> None:
        tqdm.write(f"in2: error: {prefix}{message}", file=sys.stderr)

    def warning(message: str) -> None:
        if not job.quiet:
            tqdm.write(f"in2: warning: {prefix}{message}", file=sys.stderr)

    say = say or (lambda m: None if job.quiet else tqdm.write(prefix + m, file=sys.stderr))
    warn = warn or warning
    lock = OutputLock(job.output, _log_dir(job))
    try:
        plan = _shared_plan(job, group, lock, say, warn, error)
        device = group.device if job.device == "auto" and group.device is not None else job.device
        pipe = InpaintPipeline.load(job.weights, job.revision, device, job.dtype, onnx=job.onnx)
        if group.is_main:
            say(pipe.describe())
        mine = shard(plan.tasks, group.rank, group.count, job.seed)
        stats = _Stats(rank=group.rank, threads=torch.get_num_threads())
        log_dir = _log_dir(job)
        show = not job.quiet and group.is_main and bool(mine)
        log = Log(log_dir / f"rank-{group.rank}.jsonl")  # appended: earlier runs' lines stay
        try:
            with progress_bar(len(mine), "inpainting", "image", show) as bar:  # a count per image, terminal only
                start = time.perf_counter()
                _Worker(job, pipe, log, warn, error, stats, bar.update).run(mine)
                stats.seconds = time.perf_counter() - start
        finally:
            log.close()
        all_stats = [_Stats(**s) for s in group.gather(asdict(stats))]
        summary = _summary(job, plan, all_stats)
        if group.is_main:
            try:
                storage.write_atomic(str(log_dir / "summary.json"), (json.dumps(summary, indent=1) + "\n").encode())
            except StorageError as exc:
                summary["stopped"].append(str(exc))
            if len(summary["threads"]) > 1 and pipe.device.type == "cpu":
                warn(f"the processes ran with different thread counts ({', '.join(map(str, summary['threads']))}): "
                     "a few fill pixels can differ by 1/255 from a run with other counts; give every process the same "
                     "OMP_NUM_THREADS for byte-identical results")
            rate = (f": {summary['images_per_s']} images/s, {summary['megapixels_per_s']} MP/s"
                    if summary["seconds"] else "")
            say(
                f"wrote {summary['done']} image(s) to {job.output} in {summary['seconds']} s{rate} "
                f"({summary['already_done']} already done, {summary['skipped']} skipped, {summary['failed']} failed; "
                f"logs in {log_dir})"
            )
            if summary["failed"]:
                print(
                    f"in2: {summary['failed']} of {summary['done'] + summary['failed']} image(s) failed "
                    f"(see the errors above and {log_dir})",
                    file=sys.stderr,
                )
        group.barrier()  # a rank that exits first (code 1) would make the launcher stop the main one mid-summary
        if summary["stopped"]:
            raise StorageError(f"{summary['stopped'][0]} (the outputs written so far are complete; rerun to finish)")
        return 1 if summary["failed"] else 0
    finally:
        lock.release()
        group.close()
