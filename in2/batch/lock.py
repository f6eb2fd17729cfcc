"""One batch job per output folder at a time, and a log folder that holds nothing but logs.

Two runs writing into one OUT at once would each believe the files are theirs; the second
is refused while the first runs. The lock is an OS file lock (``flock`` / ``msvcrt``) on
``OUT/.in2-batch/lock`` (for a URL OUT, on a file named after it in the local log folder), so
nothing is written outside OUT and its logs, and the system drops the lock when the holding
process ends (a killed run never leaves a stale lock). A run that stops before its plan is
made removes the folders its lock created, leaving no trace. The lock guards the runs of one
machine (and of machines whose shared disk passes ``flock`` on); runs started on several
machines into one shared OUT must be one job (one launcher command).

A log folder named with ``--log-dir`` is marked as in2's when first used (``LOG_MARK``); a
folder that already holds other files is refused rather than having its ``summary.json`` or
``plan.jsonl`` replaced.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO

from .. import storage
from ..errors import InputError

__all__ = ["LOG_MARK", "OutputLock", "check_log_folder", "claim_log_folder"]

LOG_MARK = ".in2-batch-logs"  # an empty file that says: this folder holds in2 batch logs


def check_log_folder(folder: Path, default: bool) -> None:
    """Refuse a ``--log-dir`` that already holds files other than in2 batch logs; ``default``
    is a log folder in2 names itself (OUT's own, ``./in2-batch-logs``), in2's even without the
    mark (older versions did not write one)."""
    if folder.is_dir() and not default and not (folder / LOG_MARK).exists() and any(folder.iterdir()):
        raise InputError(f"--log-dir {folder} already holds files that no in2 batch run wrote: "
                         "choose a new or empty folder for the logs")


def claim_log_folder(folder: Path) -> None:
    """Create the log folder (when the plan is made) and mark it as in2's."""
    storage.make_folder(str(folder))
    try:
        (folder / LOG_MARK).touch()
    except OSError as exc:
        raise storage.write_failure(str(folder / LOG_MARK), exc) from None


def _lock_path(output: str, log_folder: Path) -> Path:
    from .plan import LOG_FOLDER

    if storage.is_url(output):
        return log_folder / f"lock-{hashlib.sha256(storage.resolve(output).encode()).hexdigest()[:24]}"
    return Path(storage.join(output, LOG_FOLDER)) / "lock"


class OutputLock:
    """Held by the main process of a run from planning to its summary; ``acquire`` refuses
    (``InputError``) while another run holds it."""

    def __init__(self, output: str, log_folder: Path) -> None:
        self.output, self.path = output, _lock_path(output, log_folder)
        self._file: IO[bytes] | None = None
        self._made: list[Path] = []  # folders ``acquire`` created, deepest first

    def acquire(self) -> None:
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            self._made.append(folder)
            folder = folder.parent
        storage.make_folder(str(self.path.parent))
        try:
            handle = open(self.path, "a+b")  # noqa: SIM115 (held open: the lock lives as long as the file)
        except OSError as exc:
            self.abandon()
            raise storage.write_failure(str(self.path), exc) from None
        if not _try_lock(handle):
            handle.close()
            raise InputError(f"another in2 batch run is writing into {self.output} (it holds the lock {self.path}): "
                             "wait for it to finish, or choose another -o")
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None

    def abandon(self) -> None:
        """Release, and remove the lock file and the folders ``acquire`` made: the run stopped
        before its plan, so it leaves nothing behind."""
        if self._file is not None:
            self.path.unlink(missing_ok=True)
        self.release()
        for folder in self._made:
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
        self._made = []


def _try_lock(handle: IO[bytes]) -> bool:
    """Take an exclusive lock on ``handle`` without waiting; False when another process holds it."""
    try:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
