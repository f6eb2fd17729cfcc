"""The networks a run trains, built from its config: the generator (any registered model type,
optionally warm-started from an export) and the perceptual loss network."""

from __future__ import annotations

import dataclasses

import torch

from in2.model_types import DEFAULT_MODEL_TYPE, MODEL_TYPES, build_model
from trainer.perceptual import build_perceptual_loss

__all__ = ["build_generator", "init_from_export", "build_perceptual"]


def build_generator(model_cfg: dict) -> torch.nn.Module:
    """The generator named by the ``model`` config section (``in2.model_types`` builds it)."""
    kind = model_cfg.get("type", DEFAULT_MODEL_TYPE)
    if kind not in MODEL_TYPES:
        raise ValueError(f"unknown model.type {kind!r}; use {' or '.join(MODEL_TYPES)}")
    model = build_model(kind, model_cfg.get("preset", "default"), model_cfg.get("overrides"))
    if kind == DEFAULT_MODEL_TYPE and model_cfg.get("init_from"):
        init_from_export(model, str(model_cfg["init_from"]))
    return model


def init_from_export(model: torch.nn.Module, source: str) -> None:
    """Start from exported weights of the same architecture (a warm start, not a resume).

    When the source was trained for the other hole input (``hole_prefill``), the output head's
    meaning changes, so it is reset to the new model's start (the pre-fill itself)."""
    from in2 import IN2

    src = IN2.from_pretrained(source, local_files_only=True)
    ignore = {"hole_prefill", "prefill_steps", "train_resolution", "min_size", "factorised_decoder"}
    theirs, ours = dataclasses.asdict(src.config), dataclasses.asdict(model.config)
    differ = sorted(k for k in ours if k not in ignore and ours[k] != theirs.get(k))
    if differ:
        raise ValueError(f"model.init_from {source}: another architecture ({', '.join(differ)} differ)")
    model.load_state_dict(src.state_dict())
    if src.config.hole_prefill != model.config.hole_prefill:
        head = model.decoder.to_rgb
        if model.config.hole_prefill == "smooth":
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)
        else:
            head.reset_parameters()


def build_perceptual(loss_cfg: dict) -> torch.nn.Module | None:
    """Perceptual loss per config; fails at start-up (not hours in) when weights are missing."""
    if float(loss_cfg["perceptual"]) <= 0:
        return None
    return build_perceptual_loss(
        loss_cfg.get("perceptual_backbone", "vgg19"),
        loss_cfg.get("perceptual_weights"),
        bool(loss_cfg.get("perceptual_download")),
    )
