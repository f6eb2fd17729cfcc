"""The one registry of model types and IN2's size presets.

A model type is what ``config.json`` names with ``model_type`` and what a training config's
``model.type`` picks; a preset is a named IN2 size (``IN2Config``'s constructors). The loader,
the trainer and the benchmarks all build from here, so a new type or size is added once.

Classes are named by import path, so importing this module loads only the standard library:
ComfyUI imports the loader, and with it this registry, while scanning custom nodes.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import WeightsError

if TYPE_CHECKING:
    from torch import nn

    from .config import IN2Config

__all__ = ["MODEL_TYPES", "DEFAULT_MODEL_TYPE", "PRESETS", "model_class", "preset_config", "build_model"]

#: ``model_type`` -> the class that reads the rest of its config, as "module:Class".
MODEL_TYPES = {"in2": "in2.model:IN2", "ffc_baseline": "in2.nn.baseline:FFCBaseline"}
#: What a config without ``model_type`` holds: IN2's configs have never carried one.
DEFAULT_MODEL_TYPE = "in2"
#: IN2's named sizes, largest first: ``IN2Config()`` and its ``small`` and ``tiny`` constructors.
PRESETS = ("default", "small", "tiny")


def model_class(model_type: str) -> type:
    """The class registered for ``model_type``; an unknown type is a WeightsError.

    Examples:
        >>> model_class("in2").__name__
        'IN2'
    """
    if model_type not in MODEL_TYPES:
        raise WeightsError(
            f"config.json names model_type {model_type!r}, which this version of IN2 does not know; "
            f"known: {', '.join(sorted(MODEL_TYPES))}"
        )
    module, name = MODEL_TYPES[model_type].split(":")
    return getattr(import_module(module), name)


def preset_config(preset: str = "default", **overrides: Any) -> IN2Config:
    """The ``IN2Config`` of a named size, with ``overrides`` applied; an unknown name is a ValueError.

    Examples:
        >>> preset_config("tiny", hole_prefill="smooth").hole_prefill
        'smooth'
    """
    from .config import IN2Config

    if preset not in PRESETS:
        raise ValueError(f"unknown IN2 preset {preset!r}; use {', '.join(PRESETS)}")
    if preset == "default":
        return IN2Config(**overrides)
    return getattr(IN2Config, preset)(**overrides)


def build_model(
    model_type: str = DEFAULT_MODEL_TYPE, preset: str = "default", overrides: dict | None = None
) -> nn.Module:
    """A freshly initialised model: IN2 of a preset size, or another registered type from its config dict.

    Args:
        model_type: a key of ``MODEL_TYPES``.
        preset: IN2's size (one of ``PRESETS``); other types take their whole config from ``overrides``.
        overrides: config fields that differ from the preset's (IN2) or the type's defaults.

    Returns:
        The model in training mode, on the CPU.

    Examples:
        >>> build_model("in2", "tiny").config.body_dim
        48
    """
    overrides = dict(overrides or {})
    cls = model_class(model_type)
    if model_type == "in2":
        return cls(preset_config(preset, **overrides))
    return cls(overrides)
