"""Gallery images for the docs: rows of equal-size tiles under a header that names each column.

Why a header drawn into the PNG: a gallery is shown in places that drop its caption (an image
viewer, a chat, the Hub), and a grid of faces without column names cannot be read.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from trainer.eval.metrics import as_uint8

__all__ = ["labelled_grid"]

GAP = 4  # white pixels between rows and between columns
HEADER = 30  # pixels of the label strip
FONT_SIZE = 17


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled scalable font (FreeType)
    except (TypeError, OSError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def labelled_grid(rows: Sequence[Sequence[torch.Tensor]], labels: Sequence[str]) -> Image.Image:
    """``rows`` of ``[3, H, W]`` (or ``[1, 3, H, W]``) tiles in [0, 1], one label per column.

    Every tile of a column has the column's width; a label wider than its column is shrunk."""
    if not rows or any(len(row) != len(labels) for row in rows):
        raise ValueError(f"every row needs one tile per label ({len(labels)})")
    tiles = [[t.reshape(-1, *t.shape[-2:])[:3].clamp(0, 1) for t in row] for row in rows]
    widths = [tiles[0][c].shape[-1] for c in range(len(labels))]
    heights = [row[0].shape[-2] for row in tiles]
    width = sum(widths) + GAP * (len(widths) - 1)
    canvas = Image.new("RGB", (width, HEADER + sum(heights) + GAP * len(heights)), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for label, w in zip(labels, widths, strict=True):
        size = FONT_SIZE
        font = _font(size)
        while draw.textlength(label, font=font) > w - 4 and size > 8:
            size -= 1
            font = _font(size)
        draw.text((x + w / 2, HEADER / 2), label, fill="black", font=font, anchor="mm")
        x += w + GAP
    y = HEADER
    for row, h in zip(tiles, heights, strict=True):
        x = 0
        for tile, w in zip(row, widths, strict=True):
            canvas.paste(Image.fromarray(as_uint8(tile[None])), (x, y))
            x += w + GAP
        y += h + GAP
    return canvas
