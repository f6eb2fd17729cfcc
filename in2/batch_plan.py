"""What a batch run does: which image goes with which mask, where each result goes, which
are already done, and which process inpaints which image.

The plan is made once, on the main process, from a recursive listing (or a list file) and
handed to every process; ``shard`` then splits it the same way on every process, so each
planned image lands on exactly one of them.
"""

from __future__ import annotations

import json
import posixpath
import random
from dataclasses import asdict, dataclass, field

from . import storage
from .errors import InputError
from .imaging import IMAGE_EXTENSIONS, check_not_an_input, check_output_path, is_image_name

__all__ = ["Task", "Plan", "make_plan", "shard", "LOG_FOLDER"]

LOG_FOLDER = ".in2-batch"  # inside OUT: the plan, per-process logs and the summary


@dataclass(frozen=True)
class Task:
    """One image to inpaint: ``name`` is its path relative to the image folder."""

    name: str
    image: str
    mask: str
    output: str


@dataclass
class Plan:
    tasks: list[Task] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # names whose output already exists
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why): nothing to do
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, why): cannot be done as asked
    notes: list[str] = field(default_factory=list)  # unused masks and the like

    def to_jsonl(self) -> str:
        rows = [dict(asdict(t), status="todo") for t in self.tasks]
        rows += [dict(name=n, status="done") for n in self.done]
        rows += [dict(name=n, status="skipped", reason=r) for n, r in self.skipped]
        rows += [dict(name=n, status="failed", reason=r) for n, r in self.failed]
        return "".join(json.dumps(row) + "\n" for row in rows)


def _read_list(list_file: str) -> list[str]:
    """Relative image paths from a text file: one a line, blank lines and ``#`` comments ignored."""
    try:
        text = storage.read_bytes(list_file).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the list file {list_file}: {exc}") from None
    names = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line.replace("\\", "/").lstrip("/"))
    if not names:
        raise InputError(f"the list file {list_file} names no images (one relative path a line)")
    return names


def _output_extension(ext: str | None) -> str | None:
    if ext is None:
        return None
    ext = ext if ext.startswith(".") else f".{ext}"
    check_output_path(f"x{ext}")
    return ext.lower()


def _skip(output: str, folder: str) -> tuple[str, ...]:
    """Folders a listing of ``folder`` leaves out: the run's log folder, and OUT when it lies inside."""
    relative = storage.inside(output, folder)
    return (LOG_FOLDER,) if not relative else (LOG_FOLDER, relative)


def _mask_finder(masks: str, names: list[str], plan: Plan, skip: tuple[str, ...]):
    """A function name -> mask path (or None, with the reason recorded in ``plan``)."""
    if storage.is_file(masks):
        return lambda name: masks
    if not storage.is_dir(masks):
        raise InputError(f"mask folder not found: {masks}")
    by_stem: dict[str, list[str]] = {}
    for relative in storage.list_files(masks, skip=skip):
        if is_image_name(relative):
            by_stem.setdefault(posixpath.splitext(relative)[0], []).append(relative)
    wanted = {posixpath.splitext(n)[0] for n in names}
    plan.notes += [f"mask {found[0]} has no image: unused" for stem, found in sorted(by_stem.items()) if stem not in wanted]

    def find(name: str) -> str | None:
        stem = posixpath.splitext(name)[0]
        found = by_stem.get(stem, [])
        if len(found) == 1:
            return storage.join(masks, found[0])
        if not found:
            plan.skipped.append((name, f"no mask for {name} in {masks} (expected {stem}.<ext>)"))
        else:
            plan.failed.append((name, f"several masks for {name}: {', '.join(found)}; keep one"))
        return None

    return find


def make_plan(images: str, masks: str, output: str, ext: str | None = None, list_file: str | None = None) -> Plan:
    """Pair every image under ``images`` (recursively, or as listed in ``list_file``) with its
    mask and an output path mirrored under ``output``; drop the ones already written.

    ``ext`` None keeps each input's own format. Two inputs that would write one output both
    fail (naming each other); an output that is one of the inputs is an ``InputError``.
    """
    if not storage.is_dir(images):
        what = "a file: pass a folder of images (or use `in2 inpaint` for one file)" if storage.exists(images) else "not found"
        raise InputError(f"image folder {images} is {what}")
    if storage.is_file(output) or (not storage.exists(output) and is_image_name(output)):
        raise InputError(f"IMAGES is a folder, so OUT must be a folder, but {output} is a file name: pass a folder")
    new_ext = _output_extension(ext)
    for what, folder in (("image", images), ("mask", masks)):
        if storage.same_path(output, folder):
            raise InputError(
                f"the output folder {output} is the {what} folder {folder}: results would mix with (or replace) "
                "the inputs; pass another folder with -o"
            )
    names = _read_list(list_file) if list_file else [n for n in storage.list_files(images, skip=_skip(output, images)) if is_image_name(n)]
    if not names:
        raise InputError(f"no images in {images} (looked for {', '.join(IMAGE_EXTENSIONS)}, in every subfolder)")
    if storage.is_file(masks) and storage.inside(masks, images):  # one mask for all, kept among the images
        names = [n for n in names if n != storage.inside(masks, images)]
    unique = list(dict.fromkeys(names))

    plan = Plan()
    if len(unique) != len(names):
        plan.notes.append(f"{len(names) - len(unique)} duplicate line(s) in the list were ignored")
    names = unique
    mask_of = _mask_finder(masks, names, plan, _skip(output, masks))
    written = set(storage.list_files(output, skip=(LOG_FOLDER,))) if storage.is_dir(output) else set()
    targets: dict[str, list[Task]] = {}
    for name in names:
        mask = mask_of(name)
        if mask is None:
            continue
        stem, own_ext = posixpath.splitext(name)
        relative = stem + (new_ext or own_ext.lower())
        task = Task(name, storage.join(images, name), mask, storage.join(output, relative))
        check_not_an_input(task.output, {"image": task.image, "mask": task.mask}, "pass another folder with -o")
        targets.setdefault(relative, []).append(task)
    for relative, tasks in targets.items():
        if len(tasks) > 1:
            others = ", ".join(t.name for t in tasks)
            plan.failed += [(t.name, f"{others} would all write {relative}: rename one, or drop --ext") for t in tasks]
        elif relative in written:
            plan.done.append(tasks[0].name)
        else:
            plan.tasks.append(tasks[0])
    return plan


def shard(tasks: list[Task], rank: int, processes: int, seed: int = 0) -> list[Task]:
    """The tasks of process ``rank`` of ``processes``: a seeded shuffle dealt round-robin, so
    costly images (large, or clustered in one folder) spread evenly and every task lands on
    exactly one process. Same answer on every process for the same plan and seed."""
    if not 0 <= rank < processes:
        raise ValueError(f"rank {rank} outside 0..{processes - 1}")
    order = list(range(len(tasks)))
    random.Random(seed).shuffle(order)
    return [tasks[i] for i in order[rank::processes]]
