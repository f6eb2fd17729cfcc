"""Trainer commands end in one line naming the fix, as the ``in2`` command does, not a traceback.

The errors listed here are the ones the trainer raises for a setting, a file or a folder the
user chose (a config key, a data folder, a checkpoint, a run layout); anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from in2.errors import IN2Error
from trainer.checkpoints import CheckpointError
from trainer.config import ConfigError
from trainer.distributed import RunLayoutError
from trainer.state_files import StateFileError

__all__ = ["USER_ERRORS", "run_command"]

USER_ERRORS = (ConfigError, CheckpointError, StateFileError, RunLayoutError, IN2Error, OSError, ValueError)


def run_command(main: Callable[[], Any], name: str) -> int:
    """``main()``; a user error becomes ``NAME: error: MESSAGE`` on stderr and exit code 2."""
    try:
        main()
    except USER_ERRORS as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{name}: error: {message}", file=sys.stderr)
        return 2
    return 0
