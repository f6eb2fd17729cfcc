"""Drawing features against CPU-minutes: score every EMA snapshot of a run (``export.snapshot_every``).

    python trainer/eval/snapshot_curve.py runs/lfw_parts_cpu --start in2/demo_weights --data ~/data/lfw \\
        --list trainer/splits/lfw_val.txt --limit 100 -o docs/parts_curve.png

For each snapshot (and, with ``--start``, the weights the run started from, at minute 0): the
share of hidden eyes found again (both eyes hidden, one eye hidden), the share of faces found
again with the inner face hidden, and the hole PSNR on the 20-30% brush masks at 256 x 256, on
the same faces. The judges pick the faces once; every snapshot is scored on the same holes.
Writes ``curve.json`` beside the plot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


import numpy as np
import torch

from trainer.eval.compare_fills import face_crop
from trainer.eval.protocol import collect_images, masks_for, pipeline_fill
from trainer.eval.face_judge import HaarJudge
from trainer.eval.metrics import score
from trainer.eval.parts import evaluate_parts, select_faces
from trainer.eval.plot_curves import read_log

CURVE_PARTS = ("eyes", "eye", "inner_face")


def snapshot_minutes(run: Path) -> dict[int, float]:
    """Training minutes at each logged step of the run."""
    train, _ = read_log(run / "log.jsonl")
    return {int(r["step"]): float(r["minutes"]) for r in train}


def brush_psnr(fill, faces, mask_dir: Path) -> float:
    masks = masks_for((256, 256), len(faces), mask_dir, 2024)
    values = []
    for face, m in zip(faces, masks):
        mask = torch.from_numpy(m[None, None].astype(np.float32))
        values.append(score(fill(face.image, mask), face.image, mask)["masked_psnr"].item())
    return float(np.mean(values))


def score_weights(weights: str, faces, judge: HaarJudge, mask_dir: Path) -> dict[str, float]:
    from in2 import InpaintPipeline

    fill = pipeline_fill(InpaintPipeline.from_pretrained(weights, device="cpu"), "native")
    rows = evaluate_parts({"IN2": fill}, faces, CURVE_PARTS, judge, None, None, log=lambda _: None)
    by = {r["part"]: r for r in rows}
    return {"both_eyes_found": by["eyes"]["eyes_found"], "one_eye_found": by["eye"]["eyes_found"],
            "inner_face_found": by["inner_face"]["face_found"], "brush_hole_psnr": brush_psnr(fill, faces, mask_dir)}


def plot(points: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for run in dict.fromkeys(p["run"] for p in points):
        pts = sorted((p for p in points if p["run"] == run), key=lambda p: p["minutes"])
        x = [p["minutes"] for p in pts]
        for key, label, style in (("both_eyes_found", "both eyes hidden: eyes found", "-"),
                                  ("one_eye_found", "one eye hidden: eye found", "--"),
                                  ("inner_face_found", "inner face hidden: face found", ":")):
            left.plot(x, [100 * p[key] for p in pts], style, marker="o", label=f"{run}: {label}")
        right.plot(x, [p["brush_hole_psnr"] for p in pts], marker="o", label=run)
    left.set_ylabel("found again by the detector (%)")
    right.set_ylabel("hole PSNR, 20-30% brush masks (dB)")
    for a in (left, right):
        a.set_xlabel("training minutes (one CPU core)")
        a.grid(alpha=0.3)
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description="Face-part re-detection and brush hole PSNR of every snapshot of runs.")
    p.add_argument("runs", nargs="+", type=Path, help="run folders holding snapshots/ and log.jsonl")
    p.add_argument("--start", default=None, help="the weights the runs started from (plotted at minute 0)")
    p.add_argument("--data", required=True)
    p.add_argument("--list", default=None)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--every", type=int, default=1, help="score every N-th snapshot")
    p.add_argument("--masks", default="runs/snapshot_curve/masks")
    p.add_argument("-o", "--out", type=Path, default=Path("runs/snapshot_curve/curve.png"))
    args = p.parse_args(argv)

    judge = HaarJudge()
    faces, _ = select_faces(collect_images(args.data, None, args.list), judge, args.limit, face_crop)
    points = []
    for run in args.runs:
        minutes = snapshot_minutes(run)
        snaps = sorted((run / "snapshots").glob("step-*"))[:: args.every]
        todo = ([(0, args.start)] if args.start else []) + [(int(s.name.split("-")[1]), str(s)) for s in snaps]
        for step, weights in todo:
            row = {"run": run.name, "step": step, "minutes": minutes.get(step, 0.0),
                   **score_weights(weights, faces, judge, Path(args.masks))}
            points.append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(points, indent=1))
    plot(points, args.out, f"{len(faces)} held-out faces, 256x256")
    print(f"wrote {args.out}")
    return points


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as exc:  # no data folder: one line, not a traceback
        raise SystemExit(f"error: {exc}") from None
