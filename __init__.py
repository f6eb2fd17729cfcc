"""ComfyUI entry point: this repository is also a ComfyUI custom node pack.

ComfyUI imports this file at start-up for every custom node folder. It must stay cheap and
must never raise: a failure here would only show as "IMPORT FAILED" in ComfyUI's log, so the
cause is logged with a fix and ComfyUI starts without these nodes.
"""

import logging

try:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
except Exception as _exc:  # noqa: BLE001 - keep ComfyUI running whatever went wrong
    logging.getLogger("in2.comfyui").error(
        "IN2 nodes are unavailable: %s: %s. Re-install the pack or run its install.py with ComfyUI's Python.",
        type(_exc).__name__, _exc, exc_info=True,
    )
    NODE_CLASS_MAPPINGS = {}
    NODE_DISPLAY_NAME_MAPPINGS = {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
