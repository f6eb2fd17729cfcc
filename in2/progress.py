"""The command line's progress bar: shown on a terminal only, with a count that always draws.

Why a helper: a log file or a pipe must get no bar (tqdm's ``disable=None`` checks that), and
a terminal that reports no width (a pseudo-terminal some launchers and editors open) makes tqdm
draw an empty line, so the bar gets a fixed size there instead.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

__all__ = ["progress_bar"]

FALLBACK_COLUMNS, FALLBACK_ROWS = 80, 20


def _columns(stream: IO[str]) -> int:
    """The terminal's width in characters, 0 when it reports none (or is no terminal)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def progress_bar(total: int, desc: str, unit: str, show: bool = True) -> Any:
    """A tqdm bar on stderr counting ``total`` ``unit``s; drawn only when ``show`` and stderr is a terminal."""
    from tqdm.auto import tqdm

    stream = sys.stderr
    sized = _columns(stream) > 0
    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=None if show else True,
                dynamic_ncols=sized, ncols=None if sized else FALLBACK_COLUMNS, nrows=None if sized else FALLBACK_ROWS)
