"""The names a user chooses from, defined once for every surface (CLI, nodes, demo, trainer).

Modes, blends, crops, hole pre-fills, devices and precisions are spelled here, and so is the advice given when a run
runs out of memory: each surface imports these instead of writing its own list, so adding a
choice or rewording the advice is a one-line change that every front end picks up.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Literal, get_args

import torch

__all__ = [
    "Mode",
    "Blend",
    "Crop",
    "MODES",
    "BLENDS",
    "CROPS",
    "PREFILL_MODES",
    "DEVICE_CHOICES",
    "DTYPES",
    "DTYPE_CHOICES",
    "canonical_dtype",
    "dtype_name",
    "runs_on",
    "memory_advice",
    "cli_setting",
    "python_setting",
    "OUT_OF_MEMORY",
    "out_of_memory_errors",
]

#: native: the network runs at the image's own resolution; resize: at its training size,
#: composited back at full size. The first entry is the default.
Mode = Literal["native", "resize"]
MODES: tuple[str, ...] = get_args(Mode)
#: none: the fill is pasted as is; seamless: colour-matched, seam hidden inside the hole.
Blend = Literal["none", "seamless"]
BLENDS: tuple[str, ...] = get_args(Blend)
#: auto: a box of context per hole region when the whole image would not fit or its holes
#: are small in a large photo; off: the whole image; on: always a box per region.
Crop = Literal["auto", "off", "on"]
CROPS: tuple[str, ...] = get_args(Crop)
#: What the generator sees in the hole (``IN2Config.hole_prefill``): zeros, the paper's blanked
#: hole; smooth, the hole pre-filled from its surroundings (``in2.nn.prefill``).
PREFILL_MODES = ("zeros", "smooth")
#: Devices a front end offers: auto (a CUDA GPU when there is one, else the CPU) or a type.
#: The command line also takes cuda:N.
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")

#: Compute precisions by their short name; reduced precision runs under autocast.
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: Longer spellings accepted wherever a precision is typed.
_ALIASES = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}
#: What a surface offers: the precisions plus ``auto`` (bf16 on a CUDA GPU that has it, else fp32).
DTYPE_CHOICES = ("auto", *DTYPES)
#: Precisions a device type cannot run; PyTorch's CPU half kernels are slow or missing (no FFT).
_UNSUPPORTED = {"cpu": frozenset({torch.float16})}


def canonical_dtype(name: str) -> str:
    """``"float16"`` -> ``"fp16"``; names that are neither a precision nor an alias come back as given."""
    key = (name or "").strip().lower()
    return _ALIASES.get(key, key)


def dtype_name(dtype: torch.dtype) -> str:
    """The short name of a precision (``torch.bfloat16`` -> ``"bf16"``)."""
    return next((name for name, value in DTYPES.items() if value == dtype), str(dtype))


def runs_on(dtype: torch.dtype, device_type: str) -> bool:
    """Whether ``device_type`` ("cpu", "cuda", "mps") runs ``dtype`` usefully."""
    return dtype in DTYPES.values() and dtype not in _UNSUPPORTED.get(device_type, frozenset())


# ---------------------------------------------------------------------------- out of memory

Setting = Callable[[str, str], str]


def cli_setting(name: str, value: str) -> str:
    """A setting as the command line spells it: ``--crop on``."""
    return f"--{name.replace('_', '-')} {value}".rstrip()


def python_setting(name: str, value: str) -> str:
    """A setting as a Python call spells it: ``crop='on'``."""
    return f"{name}={value!r}" if value else name


def memory_advice(setting: Setting = cli_setting,
                  offered: Collection[str] = ("crop", "context", "mode", "chunk_size", "device")) -> str:
    """The ways out when a run does not fit in memory, cheapest first, as one phrase.

    ``setting`` spells a setting the way the surface's users type it; ``offered`` names the
    settings that surface has, so nobody is told to turn a knob their front end does not show.
    """
    ways = []
    if "crop" in offered:
        shrink = f" (a lower {setting('context', '')} makes the boxes smaller)" if "context" in offered else ""
        ways.append(f"{setting('crop', 'on')}{shrink}")
    if "mode" in offered:
        ways.append(setting("mode", "resize"))
    ways.append("a smaller image")
    if "chunk_size" in offered:
        ways.append(f"a lower {setting('chunk_size', '')}")
    if "device" in offered:
        ways.append(f"a GPU ({setting('device', 'cuda')})")
    if len(ways) == 1:
        return ways[0]
    return ", ".join(ways[:-1]) + ("," if len(ways) > 2 else "") + f" or {ways[-1]}"


#: What the command line and the batch runner print when a forward runs out of memory anyway
#: (the pre-flight budget is an estimate); ``{where}`` names the input.
OUT_OF_MEMORY = "out of memory while inpainting{where}: use " + memory_advice()


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a forward raises when memory runs out (host or device)."""
    return (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))
