"""`IN2_LoadModel`: pick a model, load it through the core, hand ComfyUI an `IN2_MODEL`."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import torch

from . import comfy_bridge, model_store
from .core import missing_dependency

log = logging.getLogger("in2.comfyui")

CATEGORY = "inpaint/IN2"
DEVICES = ["auto", "cpu"]
DTYPES = ["auto", "fp32", "fp16", "bf16"]


@dataclass
class IN2Model:
    """What travels on an `IN2_MODEL` wire: the core pipeline plus ComfyUI's handle on its weights."""

    pipeline: Any  # in2.InpaintPipeline
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


class IN2LoadModel:
    """Loads an IN2 model (bundled demo, `models/in2` folder or Hugging Face) for `IN2_Inpaint`."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("IN2_MODEL",)
    RETURN_NAMES = ("model",)
    FUNCTION = "load"
    DESCRIPTION = (
        "Loads an IN2 face inpainting model. Models are folders with config.json + model.safetensors "
        "in ComfyUI/models/in2 (or a folder listed under 'in2:' in extra_model_paths.yaml)."
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": (model_store.safe_model_choices(), {
                    "tooltip": "A model folder from models/in2, the bundled demo model, or a Hugging Face "
                               "download (set repo_id). Press 'r' to refresh after adding a folder.",
                }),
                "repo_id": ("STRING", {
                    "default": "",
                    "tooltip": "Hugging Face repo id 'owner/name', used only with the Hugging Face choice. "
                               "Downloaded once into models/in2/owner--name, then works offline.",
                }),
                "revision": ("STRING", {
                    "default": "main",
                    "tooltip": "Branch, tag or commit of the Hugging Face repo (a commit hash pins it).",
                }),
                "device": (DEVICES, {
                    "default": "auto",
                    "tooltip": "auto: the device ComfyUI uses (a GPU when there is one); cpu: always the CPU.",
                }),
                "dtype": (DTYPES, {
                    "default": "auto",
                    "tooltip": "Compute precision. auto: bf16 on a GPU that supports it, else fp32. fp16 on CPU runs "
                               "as fp32 (use bf16 there to save memory).",
                }),
            }
        }

    @classmethod
    def IS_CHANGED(cls, model: str, repo_id: str = "", revision: str = "main", device: str = "auto",
                   dtype: str = "auto") -> str:
        """Reload when the model's files were re-saved, not only when an input changed."""
        return model_store.fingerprint(model, repo_id, revision)

    def load(self, model: str, repo_id: str = "", revision: str = "main", device: str = "auto",
             dtype: str = "auto") -> tuple[IN2Model]:
        try:
            from in2.pipeline import InpaintPipeline
            from in2.weights import load_model

            weights = model_store.resolve(model, repo_id, revision)
            network, info = load_model(weights)
            if model == model_store.HUB_CHOICE:  # say where it came from, not only the local copy
                info = dataclasses.replace(info, source=f"{repo_id.strip()} ({weights})",
                                           revision=revision.strip() or "main")
            load_device, offload_device = pick_devices(device)
            pipeline = InpaintPipeline(network, device=load_device, dtype=dtype, weights_info=info)
        except ModuleNotFoundError as exc:
            raise missing_dependency(exc) from exc
        patcher = None
        if comfy_bridge.devices() is not None:
            patcher = comfy_bridge.make_patcher(pipeline.model, torch.device(pipeline.device), offload_device)
        log.info("IN2: %s", pipeline.describe())
        return (IN2Model(pipeline=pipeline, patcher=patcher, name=model),)
