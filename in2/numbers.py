"""Numbers as callers pass them: Python, numpy or torch scalars, and floats that are whole.

Options arrive from many places (a CLI string parsed to float, a numpy computation, a torch
tensor, a ComfyUI widget), so every numeric option is read through these two functions:
``384.0`` is a fine number of pixels, ``np.float32(0.5)`` a fine threshold, and a message
only ever rejects a value for what it is.
"""

from __future__ import annotations

import decimal
import math
import numbers
from typing import Any

from .errors import InputError

__all__ = ["as_float", "as_int"]


def _scalar(value: Any) -> Any:
    """A 0-d numpy array or torch tensor as its Python value; anything else unchanged."""
    if hasattr(value, "ndim") and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def as_float(value: Any, name: str, rule: str) -> float:
    """``value`` as a finite float; ``InputError`` saying ``name`` must be ``rule`` otherwise."""
    value = _scalar(value)
    # Decimal is a number but not a numbers.Real; it converts to float like one.
    if (isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal))
            or not math.isfinite(float(value))):
        raise InputError(f"{name} must be {rule}, got {value!r}")
    return float(value)


def as_int(value: Any, name: str, rule: str) -> int:
    """``value`` as an int (a whole float such as ``384.0`` counts); ``InputError`` otherwise."""
    number = as_float(value, name, rule)
    if not number.is_integer():
        raise InputError(f"{name} must be {rule}, got {value!r}, which is not a whole number")
    return int(number)
