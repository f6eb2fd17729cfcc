"""The README's own examples under the face-part judges: is the filled face still found, still
the same person, and does the hole keep the photo's fine detail?

    python trainer/eval/examples_judged.py [--weights in2/demo_weights] [--fills native,telea]

Each example pairs a photo with its mask in ``examples/`` and is filled at its own size. The
judges are those of ``parts.py``: dlib's HOG detector must find a face overlapping the
original's, the 128-d face-recognition distance to the original (both aligned by the original's
landmarks) must stay under 0.6, and the detail ratio is the grey-Laplacian spread in the hole
(a 3-pixel seam left out), fill over original. Judges only, never a loss.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a file: the checkout's root holds ``trainer``
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from in2.imaging import image_to_tensor, load_mask, mask_to_tensor
from in2.scores import as_uint8
from trainer.data import read_rgb
from trainer.eval.compare_fills import build_fills
from trainer.eval.face_judge import SAME_PERSON, DlibJudge, detail, seamless_region

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = (("grace_hopper.jpg", "grace_hopper_mask.png"), ("astronaut_portrait.png", "astronaut_portrait_mask.png"))


def judge_example(judge: DlibJudge, fills: dict, image_path: Path, mask_path: Path) -> list[dict]:
    """One example's fills under the three judges (the photo read and judged once); one row
    without scores where dlib finds no face in the photo."""
    image = image_to_tensor(read_rgb(image_path))[None]
    mask = mask_to_tensor(load_mask(mask_path))[None, None].float()
    original = as_uint8(image)
    face = judge.find(original)
    if face is None:
        return [{"example": image_path.name, "fill": name, "face_in_photo": False} for name in fills]
    reference = judge.descriptor(original, face)
    inner = seamless_region(mask[0, 0].numpy() > 0.5)
    sharpness = max(detail(original, inner), 1e-6)
    rows = []
    for name, fill in fills.items():
        out = as_uint8(fill(image, mask))
        distance = float(np.linalg.norm(judge.descriptor(out, face) - reference))
        rows.append({"example": image_path.name, "fill": name, "face_in_photo": True,
                     "face_found": judge.face_found_again(out, face),
                     "identity_distance": distance, "same_person": distance < SAME_PERSON,
                     "detail": detail(out, inner) / sharpness})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description="The README examples filled and judged (HOG face, identity, detail).")
    p.add_argument("--weights", default=None, help="export folder or Hub repo id (default: bundled demo weights)")
    p.add_argument("--fills", default="native,telea", help="comma-separated compare_fills fills (native, telea, ...)")
    p.add_argument("--examples", type=Path, default=EXAMPLES_DIR, help="folder holding the example photos and masks")
    args = p.parse_args(argv)
    judge = DlibJudge()
    fills = build_fills(args.fills.split(","), args.weights)
    rows = []
    print("| example | fill | HOG face found | identity distance | same person | detail ratio |")
    print("|---|---|---|---|---|---|")
    for image_name, mask_name in EXAMPLES:
        for row in judge_example(judge, fills, args.examples / image_name, args.examples / mask_name):
            rows.append(row)
            name = row["fill"]
            if not row["face_in_photo"]:
                print(f"| {image_name} | {name} | no face in the photo | | | |")
                continue
            print(f"| {image_name} | {name} | {'yes' if row['face_found'] else 'no'} | {row['identity_distance']:.3f} "
                  f"| {'yes' if row['same_person'] else 'no'} | {row['detail']:.2f} |")
    return rows


if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "examples_judged"))
