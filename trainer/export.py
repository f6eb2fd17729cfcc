"""Export trained generators in the format every front end loads, with a model card.

An IN2 export is exactly what ``IN2.from_pretrained`` reads strictly: ``config.json`` +
``model.safetensors`` (written by ``IN2.save_pretrained``), plus a ``README.md`` model card
stating data, steps and metrics, so a checkpoint found on disk or the Hub explains itself.

Command line (push an existing export; needs network and a token)::

    python -m trainer.export push runs/demo/export --repo-id user/in2-faces
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def export_generator(model: nn.Module, out_dir: Path, dtype: str = "fp32") -> Path:
    """Write ``model`` (an ``IN2`` or the conv baseline) to ``out_dir`` in ``dtype``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    m = copy.deepcopy(model).to("cpu", DTYPES[dtype]).eval()
    if hasattr(m, "save_pretrained"):
        m.save_pretrained(out_dir)
    else:  # the FFC baseline: same file layout, its own config
        from safetensors.torch import save_model

        save_model(m, str(out_dir / "model.safetensors"))
        (out_dir / "config.json").write_text(json.dumps({"model_type": "ffc_baseline", **m.config.to_dict()}, indent=2))
    return out_dir


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
    path = Path(out_dir) / "README.md"
    path.write_text(model_card(info))
    return path


def push_to_hub(out_dir: Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload an export folder (weights, config, card) to a Hub model repo; returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(out_dir), repo_id=repo_id, repo_type="model",
                      commit_message="Upload IN2 weights")
    return f"https://huggingface.co/{repo_id}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m trainer.export")
    sub = p.add_subparsers(dest="cmd", required=True)
    push = sub.add_parser("push", help="upload an export folder to the Hugging Face Hub")
    push.add_argument("folder", type=Path)
    push.add_argument("--repo-id", required=True)
    push.add_argument("--private", action="store_true")
    args = p.parse_args(argv)
    print(push_to_hub(args.folder, args.repo_id, args.private))


if __name__ == "__main__":
    main()
