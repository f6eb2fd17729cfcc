"""The paper's evaluation protocol (Tables 2-5): eight settings, two inference modes, fixed masks.

    accelerate launch trainer/evaluate.py --weights DIR_OR_REPO --data DIR [--limit 100]
                                          [--settings paper] [--modes native,resize] [--out DIR]

For every setting ``W x H`` each test image is cropped on its margins to the setting's aspect
(centred) and resized to ``W x H`` (1024^2 CelebA-HQ -> 576x1024 trims 224 px per side, as in
the paper). Masks come from a fixed set on disk (``--masks``; written by
``python trainer/masks.py make-eval-set``, or generated into ``OUT/masks`` on first use).
Inference goes through ``InpaintPipeline`` with the product's modes (``in2.options.MODES``):
``native`` (the paper's *origin*) or ``resize`` (to the training size and back, composited at
full size). Metrics are per image on the composited output rounded to uint8
(``in2.scores.score``, the rule training validation uses too), averaged, and gathered
across ranks with ``gather_for_metrics``.

Outputs ``OUT/results.md`` (Table-5-shaped) and ``OUT/results.csv``; the table is printed too.
``--data synthetic`` evaluates on held-out procedural faces (seeds never used for training).
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from in2.imaging import image_to_tensor
from in2.options import MODES
from trainer.data import crop_resize, list_images, read_rgb
from trainer.eval.metrics import score, try_lpips
from trainer.masks import EVAL_SETTINGS, MaskParams, load_eval_set, make_eval_set, parse_settings, setting_name
from trainer.synthetic_faces import render_face

COLUMNS = ("psnr", "ssim", "lpips", "masked_psnr")  # one row of scores per image, in this order
HELD_OUT_SEED = 5_000_000  # synthetic test faces: far from training (0..) and validation (1e6..) seeds

Fill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (image [1,3,H,W], mask [1,1,H,W]) -> composite


def collect_images(data: str, limit: int | None, list_file: str | None = None, synthetic_size: int = 1024) -> list:
    """Sources of the test images: PIL images are loaded lazily by ``load_test_image``."""
    if data == "synthetic":
        return [("synthetic", HELD_OUT_SEED + i, synthetic_size) for i in range(limit or 16)]
    paths = list_images(Path(data), Path(list_file) if list_file else None)
    return paths[:limit] if limit else paths


def load_test_image(item) -> Image.Image:
    if isinstance(item, tuple):
        _, seed, size = item
        return Image.fromarray(render_face(seed, size, size))
    return read_rgb(item)


def masks_for(setting: tuple[int, int], count: int, mask_dir: Path, seed: int) -> list[np.ndarray]:
    """The fixed masks of one setting, written to ``mask_dir`` first if absent there."""
    h, w = setting
    sub = mask_dir / setting_name(h, w)
    for root in (mask_dir, sub):  # a full set (make-eval-set) or one written here earlier
        if (root / "manifest.json").is_file():
            try:
                masks = load_eval_set(root, h, w)
            except KeyError:
                continue
            if len(masks) >= count:
                return masks[:count]
    make_eval_set(sub, [(h, w)], count, seed, MaskParams())
    return load_eval_set(sub, h, w)


def score_row(comp: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, lpips) -> list[float]:
    """``COLUMNS`` of one composited image (lpips nan when unavailable)."""
    scores = score(comp, target, mask, lpips)
    return [scores[name].item() if name in scores else float("nan") for name in COLUMNS]


def pipeline_fill(pipe, mode: str) -> Fill:
    def fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pipe(image, mask, mode=mode).image
    return fill


def centred_crop(img: Image.Image, height: int, width: int) -> Image.Image:
    """The paper's preparation: trim the margins to the setting's aspect (centred), resize to it."""
    return crop_resize(img, height, width, offset=0.5)


def evaluate(fills: dict[str, Fill], items: Sequence, settings: Sequence[tuple[int, int]], mask_dir: Path,
             mask_seed: int = 2024, accelerator=None, lpips=None, log: Callable[[str], None] = print,
             prepare: Callable[[Image.Image, int, int], Image.Image] = centred_crop) -> list[dict]:
    """Mean metrics per (fill, setting); items are split across ranks when an accelerator is given.

    ``prepare(photo, H, W)`` turns a test photo into the setting's input (default: ``centred_crop``).
    """
    device = accelerator.device if accelerator is not None else torch.device("cpu")
    rows = []
    n = len(items)
    indices: Sequence[int] = list(range(n))
    loader = None
    if accelerator is not None and accelerator.num_processes > 1:
        loader = accelerator.prepare_data_loader(torch.utils.data.DataLoader(list(range(n)), batch_size=1))
    for setting in settings:
        masks = None
        if accelerator is None or accelerator.is_main_process:  # writes the set if absent
            masks = masks_for(setting, n, mask_dir, mask_seed)
        if accelerator is not None:
            accelerator.wait_for_everyone()
        if masks is None:  # the other ranks read it once it exists
            masks = masks_for(setting, n, mask_dir, mask_seed)
        distributed = loader is not None
        batches = loader if distributed else ([i] for i in indices)
        per_fill: dict[str, list[torch.Tensor]] = {name: [] for name in fills}
        for batch in batches:  # gather inside the loop: that is where gather_for_metrics drops padding
            i = int(batch[0])
            img = image_to_tensor(prepare(load_test_image(items[i]), *setting))[None].to(device)
            mask = torch.from_numpy(masks[i][None, None].astype(np.float32)).to(device)
            for name, fill in fills.items():
                t = torch.tensor([score_row(fill(img, mask), img, mask, lpips)], dtype=torch.float64, device=device)
                per_fill[name].append((accelerator.gather_for_metrics(t) if distributed else t).cpu())
        for name in fills:
            t = torch.cat(per_fill[name]) if per_fill[name] else torch.zeros(0, len(COLUMNS), dtype=torch.float64)
            row = {"model": name, "setting": setting_name(*setting), "n": int(t.shape[0]),
                   **{column: t[:, i].mean().item() for i, column in enumerate(COLUMNS)}}
            rows.append(row)
            log(f"{row['model']:>24s} {row['setting']:>10s} n={row['n']} PSNR {row['psnr']:.3f} "
                f"SSIM {row['ssim']:.4f} LPIPS {row['lpips']:.4f} hole-PSNR {row['masked_psnr']:.3f}")
    return rows


def _cell(v: float, digits: int) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def table5(rows: list[dict], settings: Sequence[tuple[int, int]], per_table: int = 4) -> str:
    """Markdown tables shaped like the paper's Table 5 (settings as column groups, models as rows)."""
    names = list(dict.fromkeys(r["model"] for r in rows))
    by = {(r["model"], r["setting"]): r for r in rows}
    out = []
    for start in range(0, len(settings), per_table):
        group = [setting_name(*s) for s in settings[start:start + per_table]]
        out.append("| Settings | " + " | ".join(f"{g.replace('x', '×')} PSNR↑ | SSIM↑ | LPIPS↓" for g in group) + " |")
        out.append("|---|" + "---|---|---|" * len(group))
        for name in names:
            cells = []
            for g in group:
                r = by.get((name, g))
                cells += [_cell(r["psnr"], 3), _cell(r["ssim"], 3), _cell(r["lpips"], 3)] if r else ["", "", ""]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    out.append("Hole-only PSNR (MSE over masked pixels):")
    out.append("")
    out.append("| model | " + " | ".join(setting_name(*s) for s in settings) + " |")
    out.append("|---|" + "---|" * len(settings))
    for name in names:
        out.append(f"| {name} | " + " | ".join(_cell(by[(name, setting_name(*s))]["masked_psnr"], 3)
                                             if (name, setting_name(*s)) in by else "" for s in settings) + " |")
    return "\n".join(out) + "\n"


def write_results(rows: list[dict], settings, out_dir: Path, header: str = "") -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["model", "setting", "n", *COLUMNS])
        w.writeheader()
        w.writerows(rows)
    text = header + table5(rows, settings)
    (out_dir / "results.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description="Evaluate IN2 weights with the paper's protocol (Table 5 layout).")
    p.add_argument("--weights", default=None, help="export folder or Hub repo id (default: bundled demo weights)")
    p.add_argument("--revision", default=None)
    p.add_argument("--data", required=True, help="folder of test images (recursive), or 'synthetic'")
    p.add_argument("--list", default=None, help="optional file listing the test images (e.g. CelebA-HQ val split)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--settings", default="paper", help="'paper' (8 settings) or e.g. 512x512,1024x576")
    p.add_argument("--max-settings", type=int, default=None, help="use only the first N settings")
    p.add_argument("--modes", default=",".join(MODES), help="native (the paper's origin), resize, or both")
    p.add_argument("--masks", default=None, help="fixed mask set folder (default OUT/masks, generated if absent)")
    p.add_argument("--mask-seed", type=int, default=2024)
    p.add_argument("--out", default="runs/eval")
    p.add_argument("--label", default="IN2")
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--synthetic-size", type=int, default=1024, help="side of held-out synthetic faces")
    args = p.parse_args(argv)

    from accelerate import Accelerator

    from in2 import InpaintPipeline

    accelerator = Accelerator()
    settings = parse_settings(args.settings) if args.settings != "paper" else list(EVAL_SETTINGS)
    if args.max_settings:
        settings = settings[: args.max_settings]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            raise SystemExit(f"unknown mode {m!r}; use {' and/or '.join(MODES)} (the paper's origin is native)")
    out_dir = Path(args.out)
    mask_dir = Path(args.masks) if args.masks else out_dir / "masks"
    device = str(accelerator.device)
    # IN2 or, for Table 4, the conv baseline: the export's model_type picks the class, same pipeline
    pipe = InpaintPipeline.from_pretrained(args.weights, revision=args.revision, device=device, dtype=args.dtype)
    if args.label == "IN2" and getattr(pipe.model, "model_type", "in2") == "ffc_baseline":
        args.label = "FFC baseline"
    lpips, why = try_lpips(accelerator.device)
    say = print if accelerator.is_main_process else (lambda *_: None)
    if lpips is None:
        say(f"LPIPS not computed: {why}")
    items = collect_images(args.data, args.limit, args.list, args.synthetic_size)
    say(f"{pipe.describe()}\n{len(items)} test image(s), {len(settings)} setting(s), modes {modes}, "
        f"{accelerator.num_processes} process(es)")
    fills = {f"{args.label} ({m})": pipeline_fill(pipe, m) for m in modes}
    rows = evaluate(fills, items, settings, mask_dir, args.mask_seed, accelerator, lpips, log=say)
    if accelerator.is_main_process:
        header = (f"Weights: {args.weights or 'bundled demo weights'}; data: {args.data} ({len(items)} images); "
                  f"masks: {mask_dir} (seed {args.mask_seed}, 20-30% free-form)\n\n")
        print(write_results(rows, settings, out_dir, header))
        print(f"wrote {out_dir / 'results.md'} and {out_dir / 'results.csv'}")
    # every rank leaves the process group together: a rank exiting while gloo still runs aborts
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return rows

