"""What a batch run wrote, kept in its per-process logs so that a rerun knows its own outputs.

Each process appends one JSON line per image to ``rank-N.jsonl`` in the log folder (runs
never wipe earlier lines). Before an output is written, a ``writing`` line records its path
under OUT, its size in bytes and the options that made it; ``done`` or ``failed`` follows.
A rerun reads these lines back (``read_history``): an existing output with a matching line
is finished, one whose size differs is broken and redone, one made with other options
stops the run (``option_changes`` names the difference), and a file with no line at all
was not made by a batch run into this folder and is never replaced without ``--overwrite``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .. import storage

__all__ = ["Made", "read_history", "option_changes", "Log"]


@dataclass(frozen=True)
class Made:
    """An output a batch run wrote: its size and the options it was made with."""

    bytes: int
    options: dict[str, Any]


def read_history(log_dir: Path) -> dict[str, Made]:
    """Output path under OUT -> the last record of writing it, over every process's log.

    Lines cut short by a killed process are skipped."""
    history: dict[str, Made] = {}
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
            if isinstance(row, dict) and row.get("status") == "writing" and isinstance(row.get("written"), str):
                history[row["written"]] = Made(int(row.get("bytes", -1)), dict(row.get("options") or {}))
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
