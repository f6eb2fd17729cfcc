"""What a batch run wrote, kept in its per-process logs so that a rerun knows its own outputs.

Each process appends one JSON line per image to ``rank-N.jsonl`` in the log folder (runs
never wipe earlier lines). Before an output is written, a ``writing`` line records the
output folder (``out``, resolved), the path under it, its size, its SHA-256 and the options
that made it; ``done`` or ``failed`` follows. A rerun reads back the lines of its own output
folder only (``read_history``), so jobs sharing one ``--log-dir`` never take each other's
files for their own: an existing output whose content matches its line is finished, one
whose content differs is broken and redone, one made with other options stops the run
(``option_changes`` names the difference), and a file with no line at all was not made by a
batch run into this folder and is never replaced without ``--overwrite``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .. import storage

__all__ = ["Made", "read_history", "option_changes", "checksum", "Log"]


@dataclass(frozen=True)
class Made:
    """An output a batch run wrote: its size, its SHA-256 (``""`` in logs older than checksums)
    and the options it was made with."""

    bytes: int
    options: dict[str, Any]
    sha256: str = ""


def checksum(data: bytes) -> str:
    """The SHA-256 of an output's bytes, as its log line records it."""
    return hashlib.sha256(data).hexdigest()


def _made_here(row: dict[str, Any], output: str, resolved: str) -> bool:
    """Whether a ``writing`` line is about a file in ``output`` (``resolved`` by ``storage.resolve``),
    and not in another job's OUT."""
    if isinstance(row.get("out"), str):
        return row["out"] == resolved
    # Lines written before ``out`` was recorded: their full output path tells.
    return isinstance(row.get("output"), str) and storage.same_path(row["output"], storage.join(output, row["written"]))


def _made(row: dict[str, Any]) -> Made | None:
    """The record of a ``writing`` line; None for a damaged one (edited, or cut by a kill)."""
    size, options, digest = row.get("bytes"), row.get("options"), row.get("sha256", "")
    if (isinstance(size, bool) or not isinstance(size, int) or not isinstance(options, dict)
            or not isinstance(digest, str)):
        return None
    return Made(size, options, digest)


def read_history(log_dir: Path, output: str) -> dict[str, Made]:
    """Output path under ``output`` -> the last record of writing it, over every process's log.

    Lines about other output folders, and lines that are damaged (cut short by a killed
    process, edited by hand), are skipped."""
    history: dict[str, Made] = {}
    resolved = storage.resolve(output)
    for path in sorted(log_dir.glob("rank-*.jsonl")) if log_dir.is_dir() else ():
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not (isinstance(row, dict) and row.get("status") == "writing" and isinstance(row.get("written"), str)):
                continue
            made = _made(row)
            if made is not None and _made_here(row, output, resolved):
                history[row["written"]] = made
    return history


def option_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``--grow 0 (now 20)`` for every option whose value differs, in command-line spelling."""
    changes = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            changes.append(f"--{name.replace('_', '-')} {old.get(name)} (now {new.get(name)})")
    return changes


class Log:
    """One process's log file, appended to and flushed line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO = storage.open_append(str(path))

    def write(self, **row: Any) -> None:
        try:
            self._file.write(json.dumps(row) + "\n")
            self._file.flush()
        except OSError as exc:
            raise storage.write_failure(str(self.path), exc) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
