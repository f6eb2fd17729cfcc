"""Export trained generators in the format every front end loads, with a model card.

An export is a model folder written by ``in2.weight_files.save`` (``config.json`` +
``model.safetensors``; the conv baseline's config names its ``model_type``) and read back
strictly by ``in2.load_model`` or ``IN2.from_pretrained`` (one loader, ``in2.loader``), plus a
``README.md`` model card stating data, steps and metrics (``card_info`` gathers them from a run),
so a checkpoint found on disk or the Hub explains itself.

Command line (push an existing export; needs network and a token)::

    python trainer/export.py push runs/demo/export --repo-id user/in2-faces
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from in2 import weight_files
from in2.loader import export_config
from in2.options import DTYPES

if TYPE_CHECKING:
    from accelerate import Accelerator

    from trainer.checkpoints import TrainState
    from trainer.masks import MaskParams



def export_generator(model: nn.Module, out_dir: Path, dtype: str = "fp32") -> Path:
    """Write ``model`` (an ``IN2`` or the conv baseline) to ``out_dir`` in ``dtype``."""
    m = copy.deepcopy(model).to("cpu", DTYPES[dtype]).eval()
    return weight_files.save(m, out_dir, export_config(m))


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def model_card(info: dict[str, Any]) -> str:
    """Markdown model card. ``info`` keys: title, data, steps, epochs, images_seen, hardware,
    train_time, config (dict), metrics (dict name -> value), perceptual, notes (list of str)."""
    metrics = info.get("metrics") or {}
    lines = [
        "---",
        "library_name: in2",
        "tags: [image-inpainting, face-inpainting, in2]",
        "license: mit",
        "---",
        "",
        f"# {info.get('title', 'IN2 face inpainting model')}",
        "",
        # The first paragraph is what front ends show as the weights' one-line description.
        info.get("summary") or f"IN2 face-inpainting generator trained for {info.get('steps', '?')} steps on "
                               f"{info.get('data', 'unknown data')}.",
        "",
        "IN2 (position-aware implicit neural network) fills holes in face photos at their native resolution.",
        "Load with `IN2.from_pretrained(path_or_repo)` or `InpaintPipeline.from_pretrained(path_or_repo)`.",
        "",
        "## Training",
        "",
        f"- Data: {info.get('data', 'unknown')}",
        f"- Steps: {info.get('steps', '?')} optimizer steps ({_fmt(info.get('epochs', '?'))} epochs, "
        f"{info.get('images_seen', '?')} images seen)",
        f"- Hardware and time: {info.get('hardware', '?')}, {info.get('train_time', '?')}",
        f"- Perceptual loss backbone: {info.get('perceptual', '?')}",
    ]
    cfg = info.get("config")
    if cfg:
        lines += ["", "Training configuration:", "", "```json", json.dumps(cfg, indent=1, default=str), "```"]
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
    else:
        lines.append("Not measured.")
    notes = info.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_model_card(out_dir: Path, info: dict[str, Any]) -> Path:
    return weight_files.write_card(out_dir, model_card(info))


def card_info(cfg: dict, state: TrainState, accelerator: Accelerator, data_desc: str, buckets,
              mask_params: MaskParams, perceptual: nn.Module | None, metrics: dict, n_val: int,
              n_train: int) -> dict[str, Any]:
    """Everything the model card states: data, length, hardware, losses, validation metrics."""
    ats, lcfg = cfg["ats"], cfg["loss"]
    device = accelerator.device
    hw = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{device.type} ({torch.get_num_threads()} threads)"
    )
    if perceptual is None:
        per = "none (weight 0)"
    elif perceptual.source == "random":
        per = (f"weight {lcfg['perceptual']}, VGG-19 with RANDOM weights "
               f"(perceptual_backbone {lcfg['perceptual_backbone']!r}; no ImageNet file used)")
    else:
        per = f"weight {lcfg['perceptual']}, " + (perceptual.source if "EfficientNet" in perceptual.source
                                                  else f"ImageNet VGG-19 from {perceptual.source}")
    notes = [f"Losses: adversarial {lcfg['adversarial']}, feature matching {lcfg['feature_matching']}, "
             f"R1 {lcfg['r1']} (every {lcfg['r1_every']} steps), L1 {lcfg.get('l1', 0)}, perceptual: {per}."]
    if lcfg.get("adv_start_step"):
        notes.append(f"Reconstruction-only warm-up: the discriminator and the adversarial and feature-matching "
                     f"terms start at step {lcfg['adv_start_step']}.")
    if lcfg.get("masked_discriminator"):
        notes.append("Mask-aware discriminator: only composite patches that cover the hole are fake targets.")
    if cfg["data"]["source"] == "synthetic":
        notes.append("Trained on procedural synthetic face drawings, not photographs: fills on real photos "
                     "look like smooth drawings.")
    return {
        "title": (f"IN2 (preset {cfg['model'].get('preset')})" if cfg["model"]["type"] == "in2"
                  else "LaMa-style FFC baseline (in2/nn/baseline.py)"),
        "data": data_desc + f"; ATS {'on' if ats['enabled'] else 'off'}, buckets (WxH) "
                + ", ".join(f"{w}x{h}" for h, w in buckets)
                + f"; brush masks {mask_params.min_area:.0%}-{mask_params.max_area:.0%} of the image",
        "steps": state.step, "epochs": state.images_seen / max(1, n_train),
        "images_seen": state.images_seen,
        "hardware": f"{accelerator.num_processes} process(es) on {hw}, {cfg['train']['mixed_precision'] or 'no'} "
                    "mixed precision",
        "train_time": f"{state.train_seconds / 60:.1f} min of training steps",
        "perceptual": per,
        "config": cfg,
        "metrics": {**{f"{k} (validation)": v for k, v in metrics.items()},
                    "validation images": f"{n_val} (held-out images, each centre-cropped to a training bucket, "
                                         "fixed 20-30% masks, composited output rounded to uint8)"},
        "notes": notes,
    }


def push_to_hub(out_dir: Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload an export folder (weights, config, card) to a Hub model repo; returns its URL."""
    return weight_files.upload(out_dir, repo_id, private, token)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python trainer/export.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    push = sub.add_parser("push", help="upload an export folder to the Hugging Face Hub")
    push.add_argument("folder", type=Path)
    push.add_argument("--repo-id", required=True)
    push.add_argument("--private", action="store_true")
    args = p.parse_args(argv)
    print(push_to_hub(args.folder, args.repo_id, args.private))


if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "export"))
