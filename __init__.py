"""ComfyUI entry point: this repository is also a ComfyUI custom node pack (V3 node schema).

ComfyUI imports this file at start-up for every custom node folder and calls its
`comfy_entrypoint`. It must stay cheap and must never raise: a failure here would only show
as "IMPORT FAILED" in ComfyUI's log, so the cause is logged with a fix and ComfyUI starts
without these nodes.
"""

import logging

# The ComfyUI front end serves this folder; its docs/<node id>.md are the nodes' help pages.
WEB_DIRECTORY = "./nodes/web"

try:
    from .nodes import comfy_entrypoint
except Exception as _exc:
    logging.getLogger("in2.comfyui").error(
        "IN2 nodes are unavailable: %s: %s. Re-install the pack or run its install.py with ComfyUI's Python.",
        type(_exc).__name__, _exc, exc_info=True,
    )

    async def comfy_entrypoint():
        """No nodes: the error above says why."""
        from comfy_api.latest import ComfyExtension

        class _NoNodes(ComfyExtension):
            async def get_node_list(self):
                return []

        return _NoNodes()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
