"""IN2 nodes for ComfyUI: node registry and the `in2` model folder.

Importing this package must never fail because an optional dependency is missing: the node
modules import only torch and the light `in2.errors` at load time, the rest when a node runs.
"""

from __future__ import annotations

from .core import ensure_core_importable

ensure_core_importable()

from . import model_store  # noqa: E402  (needs the core importable)
from .inpaint import IN2Inpaint  # noqa: E402
from .loader import IN2LoadModel, IN2Model  # noqa: E402

try:
    model_store.register_model_folder()
except Exception as _exc:  # noqa: BLE001 - an odd folder setup must not hide the nodes
    import logging

    logging.getLogger("in2.comfyui").warning("IN2: could not register the 'in2' model folder: %s", _exc)

NODE_CLASS_MAPPINGS = {
    "IN2_LoadModel": IN2LoadModel,
    "IN2_Inpaint": IN2Inpaint,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "IN2_LoadModel": "IN2 Load Model",
    "IN2_Inpaint": "IN2 Inpaint (native resolution)",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "IN2Inpaint", "IN2LoadModel", "IN2Model"]
