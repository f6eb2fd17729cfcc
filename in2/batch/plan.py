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
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import storage
from ..errors import InputError
from ..imaging import IMAGE_EXTENSIONS, OUTPUT_FORMATS, check_not_an_input, is_image_name
from .log import Made, checksum, option_changes

__all__ = ["Task", "Plan", "check_folders", "make_plan", "shard", "LOG_FOLDER"]

LOG_FOLDER = ".in2-batch"  # inside OUT: the plan, per-process logs and the summary


@dataclass(frozen=True)
class Task:
    """One image to inpaint: ``name`` is its path relative to the image folder."""

    name: str
    image: str
    mask: str
    output: str
    relative: str = ""  # the output's path under OUT (what the logs record)


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


_DRIVE = re.compile(r"^[A-Za-z]:")


def _read_list(list_file: str, images: str) -> list[str]:
    """Relative image paths from a text file: one a line, blank lines and ``#`` comments ignored.

    A line that leaves IMAGES (absolute, a drive, or a ``..`` step) is an error: a run reads
    only inside its image folder, and its outputs mirror these paths inside OUT."""
    if not storage.is_file(list_file):  # missing, a folder, or a pipe that would block the read
        raise InputError(f"the list file {list_file} is not a file: pass a text file of relative image paths")
    try:
        text = storage.read_bytes(list_file).decode("utf-8-sig")  # a BOM (Windows editors) is not part of a name
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the list file {list_file}: {exc}") from None
    names = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.replace("\\", "/")
        if name.startswith("/") or _DRIVE.match(name) or ".." in name.split("/"):
            raise InputError(
                f"line {number} of the list file {list_file} is {line!r}, which is not inside the image folder "
                f"{images}: list paths relative to it (no leading /, no ..), "
                "or pass the folder that holds them as IMAGES"
            )
        names.append(posixpath.normpath(name))
    if not names:
        raise InputError(f"the list file {list_file} names no images (one relative path a line)")
    return names


def output_extension(ext: str | None) -> str | None:
    """``--ext`` as a lower-case extension with its dot; an ``InputError`` for one that is not an image format."""
    if ext is None:
        return None
    normal = (ext if ext.startswith(".") else f".{ext}").lower()
    if normal not in OUTPUT_FORMATS:
        raise InputError(
            f"--ext {ext!r} is not an image format this tool writes: use one of {', '.join(sorted(OUTPUT_FORMATS))}"
        )
    return normal


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
    plan.notes += [
        f"mask {found[0]} has no image: unused" for stem, found in sorted(by_stem.items()) if stem not in wanted
    ]

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


def make_plan(images: str, masks: str, output: str, ext: str | None = None, list_file: str | None = None, *,
              history: dict[str, Made] | None = None, options: dict[str, Any] | None = None,
              overwrite: bool = False) -> Plan:
    """Pair every image under ``images`` (recursively, or as listed in ``list_file``) with its
    mask and an output path mirrored under ``output``; drop the ones already written.

    ``ext`` None keeps each input's own format. Two inputs that would write one output both
    fail (naming each other); an output that is one of the inputs is an ``InputError``.
    An existing output counts as done only when ``history`` (``in2.batch.log.read_history``)
    says this folder's runs wrote it, with its present content (SHA-256), with ``options``; a broken one is
    redone, one made with other options stops the plan (naming them), and a file no run
    wrote fails. ``overwrite`` redoes every existing output instead.
    """
    check_folders(images, masks, output)
    new_ext = output_extension(ext)
    listed = bool(list_file)
    names = (
        _read_list(list_file, images)
        if list_file
        else [n for n in storage.list_files(images, skip=_skip(output, images)) if is_image_name(n)]
    )
    if not names:
        raise InputError(f"no images in {images} (looked for {', '.join(IMAGE_EXTENSIONS)}, in every subfolder)")
    if storage.is_file(masks) and storage.inside(masks, images):  # one mask for all, kept among the images
        names = [n for n in names if n != storage.inside(masks, images)]
    unique = list(dict.fromkeys(names))

    plan = Plan()
    if len(unique) != len(names):
        plan.notes.append(f"{len(names) - len(unique)} duplicate line(s) in the list were ignored")
    names = unique
    if listed:
        names = _listed_images(images, names, list_file or "", plan)
    mask_of = _mask_finder(masks, names, plan, _skip(output, masks))
    written = set(storage.list_files(output, skip=(LOG_FOLDER,))) if storage.is_dir(output) else set()
    targets: dict[str, list[Task]] = {}
    inputs = {storage.resolve(storage.join(images, name)): name for name in names}
    for name in names:
        mask = mask_of(name)
        if mask is None:
            continue
        stem, own_ext = posixpath.splitext(name)
        relative = stem + (new_ext or own_ext.lower())
        task = Task(name, storage.join(images, name), mask, storage.join(output, relative), relative)
        check_not_an_input(task.output, {"image": task.image, "mask": task.mask}, "pass another folder with -o")
        other = inputs.get(storage.resolve(task.output))
        if other is not None:
            raise InputError(f"the output of {name} would be {task.output}, which is the input image {other}: "
                             "it would be destroyed; pass another folder with -o")
        targets.setdefault(relative, []).append(task)
    changed: list[tuple[str, Made]] = []
    for relative, tasks in targets.items():
        if len(tasks) > 1:
            others = ", ".join(t.name for t in tasks)
            plan.failed += [(t.name, f"{others} would all write {relative}: rename one, or drop --ext") for t in tasks]
        elif relative not in written or overwrite:
            plan.tasks.append(tasks[0])
        else:
            _existing(tasks[0], relative, (history or {}).get(relative), options or {}, plan, changed)
    if changed:
        raise InputError(_changed_options(output, changed, options or {}))
    return plan


def check_folders(images: str, masks: str, output: str) -> None:
    """Refuse, before anything is written: IMAGES that is not a folder, OUT that is a file, and
    an OUT that is, or holds, the image or mask folder (or the one mask file), whose outputs
    would land on inputs (``P/imgs/imgs/x.png`` would write over ``P/imgs/x.png``).
    An OUT inside IMAGES is fine: the listing leaves it out. IMAGES and MASKS must differ."""
    if not storage.is_dir(images):
        what = ("a file: pass a folder of images (or use `in2 inpaint` for one file)" if storage.exists(images)
                else "not found")
        raise InputError(f"image folder {images} is {what}")
    if storage.is_file(output) or (not storage.exists(output) and is_image_name(output)):
        raise InputError(f"IMAGES is a folder, so OUT must be a folder, but {output} is a file name: pass a folder")
    if storage.same_path(images, masks):
        raise InputError(f"the image folder and the mask folder are both {images}: every photo would be its own "
                         "mask; pass the folder (or the one file) that holds the masks as MASKS")
    for what, folder in (("image", images), ("mask", masks)):
        kind = "folder" if storage.is_dir(folder) else "file"
        if storage.same_path(output, folder):
            raise InputError(f"the output folder {output} is the {what} {kind} {folder}: results would mix with (or "
                             "replace) the inputs; pass another folder with -o")
        if storage.inside(folder, output) is not None:
            raise InputError(f"the output folder {output} holds the {what} {kind} {folder}: outputs could replace "
                             "inputs; pass a folder outside it with -o")


def _listed_images(images: str, names: list[str], list_file: str, plan: Plan) -> list[str]:
    """The listed names that are image files in IMAGES; the others fail, saying which."""
    found = []
    for name in names:
        if not is_image_name(name):
            plan.failed.append(
                (name, f"{name} (in {list_file}) is not an image file name: use one of {', '.join(IMAGE_EXTENSIONS)}")
            )
        elif not storage.is_file(storage.join(images, name)):
            plan.failed.append((name, f"{name} is listed in {list_file} but is not a file in {images}"))
        else:
            found.append(name)
    return found


def _existing(task: Task, relative: str, made: Made | None, options: dict[str, Any], plan: Plan,
              changed: list[tuple[str, Made]]) -> None:
    """Sort an output that is already there: done, broken (redone), made otherwise, or not ours."""
    if made is None:
        plan.failed.append((task.name, (
            f"{task.output} already exists and no batch run into this folder wrote it (no record in its logs): "
            "it is left as it is; move it away, choose another -o, or pass --overwrite to replace it")))
    elif made.options != options:
        changed.append((relative, made))
    elif not made.sha256:
        plan.notes.append(f"{relative} was logged without a checksum (an older version of in2): it is done again")
        plan.tasks.append(task)
    elif _checksum_of(task.output) != made.sha256:
        plan.notes.append(f"{relative} is not what this job wrote (changed, emptied or truncated): it is done again")
        plan.tasks.append(task)
    else:
        plan.done.append(task.name)


def _checksum_of(path: str) -> str:
    """The SHA-256 of a file; ``""`` when it cannot be read (then it is simply done again)."""
    try:
        return checksum(storage.read_bytes(path))
    except OSError:
        return ""


def _changed_options(output: str, changed: list[tuple[str, Made]], options: dict[str, Any]) -> str:
    """The message of a rerun whose options differ from those of the outputs already in OUT."""
    first, made = changed[0]
    differences = "; ".join(option_changes(made.options, options))
    return (
        f"{output} already holds {len(changed)} output(s) made with other options (e.g. {first}: {differences}): "
        "rerun with the options they were made with to finish that job, choose another -o for the new options, "
        "or pass --overwrite to redo them with the new options"
    )


def shard(tasks: list[Task], rank: int, processes: int, seed: int = 0) -> list[Task]:
    """The tasks of process ``rank`` of ``processes``: a seeded shuffle dealt round-robin, so
    costly images (large, or clustered in one folder) spread evenly and every task lands on
    exactly one process. Same answer on every process for the same plan and seed."""
    if not 0 <= rank < processes:
        raise ValueError(f"rank {rank} outside 0..{processes - 1}")
    order = list(range(len(tasks)))
    random.Random(seed).shuffle(order)
    return [tasks[i] for i in order[rank::processes]]
