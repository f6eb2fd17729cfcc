"""IN2: position-aware implicit neural network for face inpainting at native resolution.

The public names are imported lazily so that `import in2` stays cheap for front ends
(ComfyUI scans every custom node at start-up) and so a missing optional piece only
fails when it is used.
"""

import os
import sys
from importlib import import_module
from typing import Any

# Idle OpenMP threads sleep instead of spinning (unless the user chose otherwise). Read once,
# when torch loads its OpenMP runtime, so only when in2 comes first (the `in2` command, the
# benchmark, scripts that import in2 before torch). Why: spinning threads hold cores that other
# work needs, and on a busy machine the model's many short parallel regions then wait for
# each other: 512x512, 5% brush hole, default threads, 2-core host shared with a training job,
# `python -m in2.bench --compare lama`: IN2 11.2 s / LaMa 9.4 s spinning, 0.96 s / 2.04 s
# sleeping (in turns: 1.20 -> 0.47 of LaMa's time; 1024x576: 1.29 -> 0.43).
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import IN2Error, InputError, StorageError, WeightsError

__version__ = "0.1.0"

_LAZY = {
    "IN2Config": "in2.config",
    "IN2": "in2.model",
    "InpaintPipeline": "in2.pipeline",
    "InpaintResult": "in2.pipeline",
    "load_model": "in2.loader",
    "set_attention_backend": "in2.nn.attention",
}

__all__ = ["IN2Error", "InputError", "StorageError", "WeightsError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'in2' has no attribute {name!r}")
