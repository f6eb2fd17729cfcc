"""What every rank of a multi-process (multi-machine) run must agree on, checked up front.

A run on several machines hangs or silently diverges when ranks answer a question each on
their own: which checkpoint to resume, whether a file exists, which images there are and
how large. Here the main process answers and every rank receives the answer; what cannot be
shared (a disk) is verified, and a mismatch stops every rank with one clear message instead
of a hang at the next collective.

- ``main_decides``: compute on the main process, broadcast the value (or its error).
- ``check_shared_folder``: the output folder must be one folder for all ranks (sentinel file).
- ``check_same_batches``: epoch 0's global batch list hashed and compared across ranks.
- ``RunShape`` / ``match_run_shape``: processes, batch and accumulation stored in each
  checkpoint; a resume with another process count keeps the data position and the schedule
  when the effective batch is unchanged, and stops otherwise.
- ``release_others``: export and Hub push run on the main process without holding the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, gather_object

T = TypeVar("T")
log = logging.getLogger("in2.trainer")

SENTINEL_PREFIX = ".shared-check-"
SENTINEL_WAIT_S = 10.0  # network file systems may show a new file on other machines after a delay


class RunLayoutError(RuntimeError):
    """The ranks of a run disagree about something they must share (disk, data, run shape)."""


def main_decides(accelerator: Accelerator, compute: Callable[[], T]) -> T:
    """``compute()`` on the main process only; every rank returns its value or raises its error."""
    if accelerator.num_processes == 1:
        return compute()
    box: list[Any] = [None]
    error: BaseException | None = None
    if accelerator.is_main_process:
        try:
            box = [("value", compute())]
        except Exception as exc:  # noqa: BLE001 - handed to every rank, re-raised below
            error, box = exc, [("error", f"{type(exc).__name__}: {exc}")]
    broadcast_object_list(box, from_process=0)
    kind, value = box[0]
    if kind == "error":
        if error is not None:
            raise error
        raise RunLayoutError(f"the main process stopped: {value}")
    return value


def failing_ranks(accelerator: Accelerator, ok: bool) -> list[str]:
    """``rank N (host)`` of every rank that reports ``ok`` False, the same list on every rank."""
    answers = gather_object([(accelerator.process_index, socket.gethostname(), bool(ok))])
    return [f"rank {rank} ({host})" for rank, host, fine in answers if not fine]


def check_shared_folder(accelerator: Accelerator, folder: Path) -> None:
    """Stop every rank unless all of them see the file the main process writes into ``folder``."""
    if accelerator.num_processes == 1:
        return

    def write_sentinel() -> str:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{SENTINEL_PREFIX}{uuid.uuid4().hex}"
        (folder / name).write_text(name)
        return name

    name = main_decides(accelerator, write_sentinel)
    sentinel = folder / name
    deadline = time.monotonic() + SENTINEL_WAIT_S
    while not sentinel.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    seen = sentinel.is_file() and sentinel.read_text() == name
    failing = failing_ranks(accelerator, seen)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        sentinel.unlink(missing_ok=True)
    if failing:
        raise RunLayoutError(
            f"the output folder {folder} is not shared by every process: {', '.join(failing)} cannot see "
            f"{sentinel.name}, which the main process wrote there. Checkpoints, --resume and the export "
            "live in that folder: put output_dir on a disk every machine mounts at the same path "
            "(NFS, Lustre, a cluster file system) and start again."
        )


def check_same_batches(accelerator: Accelerator, sampler: Any) -> str:
    """Hash of epoch 0's global batch list; stops every rank if any rank's hash differs."""
    batches = sampler.global_batches(0)
    digest = hashlib.sha256(json.dumps(batches, default=int).encode()).hexdigest()[:16]
    if accelerator.num_processes > 1:
        digests = gather_object([digest])
        if len(set(digests)) > 1:
            raise RunLayoutError(
                f"the ranks built different batch lists for epoch 0 (hashes by rank: {digests}): their image "
                "lists or image sizes differ. Build the data on the main process (the trainer does) and make "
                "sure every machine sees the same data folder, config and list files."
            )
    return digest


@dataclass(frozen=True)
class RunShape:
    """How a run splits its data: stored in every checkpoint (``TrainState.run_shape``)."""

    processes: int
    batch_size: int  # per process
    grad_accum: int

    @property
    def effective_batch(self) -> int:
        """Images per optimizer step: what the data position and the lr schedule count in."""
        return self.processes * self.batch_size * self.grad_accum


def match_run_shape(state: Any, now: RunShape, resumed: bool) -> None:
    """Carry ``state``'s data position over to ``now``'s shape, or stop when it cannot be exact.

    Same effective batch (e.g. 2 processes x grad_accum 2 resumed as 4 x 1): each optimizer step
    still consumes the same global batches, so the step count and the lr schedule are unchanged
    and only the per-process position is re-derived. Another effective batch would change what a
    step means, so the run stops and says which settings restore it.
    """
    saved = state.run_shape
    if resumed and saved is None:
        log.warning("this checkpoint does not record its process count; assuming %d process(es), "
                    "batch %d, grad_accum %d as now", now.processes, now.batch_size, now.grad_accum)
    elif resumed and RunShape(**saved) != now:
        before = RunShape(**saved)
        if before.effective_batch != now.effective_batch:
            raise RunLayoutError(
                f"the checkpoint was written by {before.processes} process(es) x batch_size {before.batch_size} x "
                f"grad_accum {before.grad_accum} = {before.effective_batch} images per step, but this run has "
                f"{now.processes} x {now.batch_size} x {now.grad_accum} = {now.effective_batch}. Resuming would "
                "shift the data position and the learning-rate schedule. Resume with the same product, e.g. "
                f"train.grad_accum={_matching_accum(before, now)} for {now.processes} process(es), or start a new run."
            )
        consumed = state.batch_in_epoch * before.processes  # global batches of this epoch already used
        state.batch_in_epoch = consumed // now.processes
        log.info("resumed a %d-process checkpoint on %d process(es): same %d images per step, position re-derived",
                 before.processes, now.processes, now.effective_batch)
    state.run_shape = asdict(now)


def _matching_accum(before: RunShape, now: RunShape) -> str:
    accum, rest = divmod(before.effective_batch, now.processes * now.batch_size)
    return str(accum) if accum and not rest else "(none fits: change data.batch_size too)"


def release_others(accelerator: Accelerator) -> None:
    """After the last collective (the final checkpoint), every rank but the main one leaves the
    process group and may exit: the main process's validation, export and Hub push then hold
    nobody at a barrier that would time out. The main process calls ``end_training`` itself."""
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        accelerator.end_training()


__all__ = [
    "RunLayoutError", "RunShape", "main_decides", "check_shared_folder",
    "check_same_batches", "match_run_shape", "release_others",
]
