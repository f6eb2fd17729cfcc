"""Validation during training: scores of the composited output and a PNG grid to look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from in2.compositing import paste_into_hole
from in2.scores import as_uint8, score
from trainer.data import ValidationSet

__all__ = ["validate"]


def _row(tiles: list[np.ndarray], height: int) -> np.ndarray:
    """Tiles side by side, each scaled to ``height`` pixels."""
    scaled = []
    for t in tiles:
        h, w = t.shape[:2]
        im = Image.fromarray(t).resize((max(1, round(w * height / h)), height), Image.BICUBIC)
        scaled.append(np.asarray(im))
    return np.concatenate(scaled, axis=1)


@torch.no_grad()
def validate(
    model: torch.nn.Module, vset: ValidationSet, device: torch.device, out_png: Path | None, grid_rows: int = 8
) -> dict[str, float]:
    """PSNR/SSIM/masked PSNR of the composited, uint8-rounded output; optional PNG grid.

    Grid rows: input with the hole greyed, mask, output (composited), target.
    """
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {"psnr": 0.0, "ssim": 0.0, "masked_psnr": 0.0}
    rows = []
    for i, (img, mask) in enumerate(vset.items):
        x, m = img[None].to(device), mask[None].to(device)
        comp = paste_into_hole(x, model(x, m).float(), m)
        for name, value in score(comp, x, m).items():
            totals[name] += value.item()
        if out_png is not None and i < grid_rows:
            masked_in = x * (1 - m) + 0.5 * m
            rows.append(_row([as_uint8(t) for t in (masked_in, m.expand(-1, 3, -1, -1), comp, x)], 128))
    model.train(was_training)
    if rows:
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        out_png.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, 0)).save(out_png)
    n = max(1, len(vset.items))
    return {f"val_{name}": total / n for name, total in totals.items()}
