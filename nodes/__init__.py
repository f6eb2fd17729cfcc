"""IN2 nodes for ComfyUI (V3 schema): entry point and the `in2` model folder.

Importing this package must never fail because an optional dependency is missing: it imports
only torch and the light `in2.errors` / `in2.weight_files` at load time; ComfyUI's `comfy_api` and the rest are
imported when ComfyUI asks for the nodes (`comfy_entrypoint`) or a node runs.
"""

from __future__ import annotations

from .core import ensure_core_importable

ensure_core_importable()

from . import model_store  # noqa: E402  (needs the core importable)
from .inpaint import run_inpaint  # noqa: E402
from .loader import IN2Model, load_in2_model  # noqa: E402

try:
    model_store.register_model_folder()
except Exception as _exc:  # noqa: BLE001 - an odd folder setup must not hide the nodes
    import logging

    logging.getLogger("in2.comfyui").warning("IN2: could not register the 'in2' model folder: %s", _exc)

NODE_IDS = ("IN2_LoadModel", "IN2_Inpaint")


async def comfy_entrypoint():
    """ComfyUI (0.3.48 and later) calls this at start-up for the node list."""
    from .schema import IN2Extension

    return IN2Extension()


__all__ = ["comfy_entrypoint", "run_inpaint", "load_in2_model", "IN2Model", "NODE_IDS"]
