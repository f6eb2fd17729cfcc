"""Drawing features against CPU-minutes: score every EMA snapshot of a run (``export.snapshot_every``).

    python trainer/eval/snapshot_curve.py runs/lfw_parts_cpu --start in2/demo_weights --data ~/data/lfw \\
        --list trainer/splits/lfw_val.txt --limit 100 -o docs/parts_curve.png

For each snapshot (and, with ``--start``, the weights the run started from, at minute 0): with
both eyes hidden, the detail ratio and the face-recognition distance to the original; with the
inner face hidden, the share of fills in which dlib's HOG detector finds the face; the Haar
re-detection rates (both eyes, one eye, inner face); and the hole PSNR on the 20-30% brush masks
at 256 x 256, on the same faces (``parts.py`` says what each number sees). The judges pick the
faces once; every snapshot is scored on the same holes.
Writes ``curve.json`` beside the plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

# Run as a file (``python trainer/eval/snapshot_curve.py``): the checkout's root holds ``trainer``,
# which is not an installed package.
if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trainer.eval.compare_fills import face_crop
from trainer.eval.face_judge import DlibJudge, HaarJudge
from trainer.eval.metrics import score
from trainer.eval.parts import Judges, evaluate_parts, select_faces
from trainer.eval.plot_curves import read_log
from trainer.eval.protocol import collect_images, masks_for, pipeline_fill

CURVE_PARTS = ("eyes", "eye", "inner_face")


def snapshot_minutes(run: Path) -> dict[int, float]:
    """Training minutes at each logged step of the run."""
    train, _ = read_log(run / "log.jsonl")
    return {int(r["step"]): float(r["minutes"]) for r in train}


def brush_psnr(fill, faces, mask_dir: Path) -> float:
    masks = masks_for((256, 256), len(faces), mask_dir, 2024)
    values = []
    for face, m in zip(faces, masks, strict=True):
        mask = torch.from_numpy(m[None, None].astype(np.float32))
        values.append(score(fill(face.image, mask), face.image, mask)["masked_psnr"].item())
    return float(np.mean(values))


def score_weights(weights: str, faces, judges: Judges, mask_dir: Path) -> dict[str, float]:
    from in2 import InpaintPipeline

    fill = pipeline_fill(InpaintPipeline.from_pretrained(weights, device="cpu"), "native")
    rows = evaluate_parts({"IN2": fill}, faces, CURVE_PARTS, judges, None, None, log=lambda _: None)
    by = {r["part"]: r for r in rows}
    return {"both_eyes_detail": by["eyes"]["detail"], "both_eyes_identity": by["eyes"]["identity_distance"],
            "inner_face_hog": by["inner_face"]["hog_face_found"],
            "both_eyes_found": by["eyes"]["eyes_found"], "one_eye_found": by["eye"]["eyes_found"],
            "inner_face_found": by["inner_face"]["face_found"], "brush_hole_psnr": brush_psnr(fill, faces, mask_dir)}


CURVES = (  # (panel, key, label, style)
    (0, "both_eyes_detail", "both eyes hidden: detail ratio", "-"),
    (0, "inner_face_hog", "inner face hidden: HOG face found (share)", ":"),
    (1, "both_eyes_identity", "both eyes hidden: identity distance", "-"),
    (2, "brush_hole_psnr", "brush 20-30%: hole PSNR (dB)", "-"),
)


def plot(points: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for run in dict.fromkeys(p["run"] for p in points):
        pts = sorted((p for p in points if p["run"] == run and "both_eyes_detail" in p), key=lambda p: p["minutes"])
        x = [p["minutes"] for p in pts]
        for panel, key, label, style in CURVES:
            axes[panel].plot(x, [p[key] for p in pts], style, marker="o", label=f"{run}: {label}")
    axes[0].set_ylabel("detail ratio / share")
    axes[1].set_ylabel("face-recognition distance (lower = same person; 0.6 threshold)")
    axes[2].set_ylabel("hole PSNR (dB)")
    for a in axes:
        a.set_xlabel("training minutes (CPU)")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
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

    judges = Judges(HaarJudge(), DlibJudge())
    faces, _ = select_faces(collect_images(args.data, None, args.list), judges, args.limit, face_crop)
    points = []
    for run in args.runs:
        minutes = snapshot_minutes(run)
        snaps = sorted((run / "snapshots").glob("step-*"))[:: args.every]
        todo = ([(0, args.start)] if args.start else []) + [(int(s.name.split("-")[1]), str(s)) for s in snaps]
        for step, weights in todo:
            row = {"run": run.name, "step": step, "minutes": minutes.get(step, 0.0),
                   **score_weights(weights, faces, judges, Path(args.masks))}
            points.append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(points, indent=1))
    plot(points, args.out, f"{len(faces)} held-out faces, 256x256")
    print(f"wrote {args.out}")
    return points


if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "snapshot_curve"))
