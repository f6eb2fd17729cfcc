"""Everything the nodes need from ComfyUI, imported lazily and optional.

The node classes must also run (and be unit-tested) without ComfyUI, so every `comfy` import
goes through here and degrades to a plain-PyTorch behaviour when ComfyUI is absent.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import torch


def optional_module(name: str) -> ModuleType | None:
    """The module, or None when it (or one of its imports) is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def folder_paths() -> ModuleType | None:
    """ComfyUI's `folder_paths` (model folders, `extra_model_paths.yaml`), None outside ComfyUI."""
    return optional_module("folder_paths")


def model_management() -> ModuleType | None:
    return optional_module("comfy.model_management")


def devices() -> tuple[torch.device, torch.device] | None:
    """(load device, offload device) as ComfyUI chooses them (`--cpu`, `--gpu-only`, ...)."""
    mm = model_management()
    if mm is None:
        return None
    return mm.get_torch_device(), mm.unet_offload_device()


class IN2InpaintModel(torch.nn.Module):
    """Holds the IN2 network for `ModelPatcher`, which sets bookkeeping attributes
    (`device`, `model_loaded_weight_memory`, ...) on the module it is given; this keeps them
    off the core model."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network


def make_patcher(network: torch.nn.Module, load_device: torch.device, offload_device: torch.device) -> Any | None:
    """Put the network under ComfyUI's memory management (None outside ComfyUI).

    The weights go to the offload device now; `load_for_run` brings them to the load device
    right before a run, so ComfyUI can evict them for other models between runs.
    """
    patcher_mod = optional_module("comfy.model_patcher")
    if patcher_mod is None:
        return None
    host = IN2InpaintModel(network)
    host.to(offload_device)
    return patcher_mod.ModelPatcher(host, load_device=load_device, offload_device=offload_device)


def load_for_run(patcher: Any | None) -> None:
    """Ask ComfyUI to make room for and load the model onto its device (no-op outside ComfyUI)."""
    mm = model_management()
    if patcher is None or mm is None:
        return
    mm.load_models_gpu([patcher], force_full_load=True)


def check_interrupted() -> None:
    """Raise ComfyUI's interruption exception when the user pressed Cancel."""
    mm = model_management()
    if mm is not None:
        mm.throw_exception_if_processing_interrupted()


class RunProgress:
    """A ComfyUI progress bar fed by the pipeline's ``progress(done, total)`` reports (the
    pipeline already spreads several forwards over one total); every report also checks for
    interruption, which is how Cancel stops a long decode."""

    STEPS = 1000

    def __init__(self) -> None:
        utils = optional_module("comfy.utils")
        self.bar = utils.ProgressBar(self.STEPS) if utils is not None else None

    def report(self, done: int, total: int) -> None:
        check_interrupted()
        if self.bar is not None and total > 0:
            self.bar.update_absolute(int(self.STEPS * min(done, total) / total))
