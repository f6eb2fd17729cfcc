"""IN2: position-aware implicit neural network for face inpainting at native resolution.

The public names are imported lazily so that `import in2` stays cheap for front ends
(ComfyUI scans every custom node at start-up) and so a missing optional piece only
fails when it is used.
"""

from importlib import import_module
from typing import Any

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
