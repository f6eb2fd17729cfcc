"""What `IN2_LoadModel` does, without ComfyUI: pick a model, load it through the core, and
hand back an `IN2_MODEL` (the node schema lives in `schema.py`)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from . import comfy_bridge, model_store
from .core import missing_dependency

if TYPE_CHECKING:
    from in2.pipeline import InpaintPipeline

log = logging.getLogger("in2.comfyui")

CATEGORY = "inpaint/IN2"
DEVICES = ["auto", "cpu"]


@dataclass
class IN2Model:
    """What travels on an `IN2_MODEL` wire: the core pipeline plus ComfyUI's handle on its weights."""

    pipeline: InpaintPipeline
    patcher: Any | None  # comfy.model_patcher.ModelPatcher, None outside ComfyUI
    name: str

    def prepare(self) -> None:
        """Bring the weights back to the compute device if ComfyUI offloaded them."""
        comfy_bridge.load_for_run(self.patcher)


def pick_devices(device: str) -> tuple[torch.device | str, torch.device]:
    """(compute device, offload device): ComfyUI's choice for "auto", else the CPU."""
    comfy_devices = comfy_bridge.devices()
    if device == "cpu":
        return torch.device("cpu"), torch.device("cpu")
    if comfy_devices is None:
        return "auto", torch.device("cpu")  # the core picks CUDA when present
    return comfy_devices


def load_in2_model(model: str, repo_id: str = "", revision: str = "main", device: str = "auto",
                   dtype: str = "auto") -> IN2Model:
    """The chosen model as an `IN2_MODEL`, under ComfyUI's memory management when it runs in ComfyUI."""
    try:
        from in2.loader import load_model
        from in2.pipeline import InpaintPipeline

        weights = model_store.resolve(model, repo_id, revision)
        network, info = load_model(weights)
        if model == model_store.HUB_CHOICE:  # say where it came from, not only the local copy
            info = dataclasses.replace(info, source=f"{repo_id.strip()} ({weights})",
                                       revision=revision.strip() or "main")
        load_device, offload_device = pick_devices(device)
        managed = comfy_bridge.devices() is not None
        # Under ComfyUI the weights stay where they were loaded (the CPU) until ComfyUI moves
        # them to the compute device right before a run; outside it the pipeline places them.
        pipeline = InpaintPipeline(network, device=None if managed else load_device, dtype=dtype, weights_info=info)
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc) from exc
    patcher = None
    if managed:
        patcher = comfy_bridge.make_patcher(pipeline.model, torch.device(load_device), offload_device)
    if managed:  # the precision is resolved where ComfyUI runs it, not on the CPU it waits on
        log.info("IN2: %s; ComfyUI runs it on %s (%s)", pipeline.weights_info.summary(), load_device, dtype)
    else:
        log.info("IN2: %s", pipeline.describe())
    return IN2Model(pipeline=pipeline, patcher=patcher, name=model)
