"""The README's first picture: held-out faces before, with a face part hidden, and filled by IN2.

    python trainer/eval/before_after.py --data ~/data/lfw --list trainer/splits/lfw_val.txt \\
        --out docs/before_after.png

The faces are the first validation people (people the weights never saw) in whom the Haar
judges of the face-part evaluation find a face and both eyes, in the list's order: none is
picked by hand. Each is prepared as in that evaluation (resized to 256 x 256) and gets one
part's hole, placed from the eyes the judge found, in turn: both eyes, the mouth, one eye, the
inner face. The fill is ``InpaintPipeline`` in native mode with the given weights (default: the
bundled demo weights), exactly what every front end runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from in2 import InpaintPipeline
from trainer.eval.compare_fills import face_crop
from trainer.eval.face_judge import DlibJudge, HaarJudge
from trainer.eval.gallery import labelled_grid
from trainer.eval.parts import PART_TITLES, Judges, part_mask, select_faces
from trainer.eval.protocol import collect_images

KINDS = ("eyes", "mouth", "eye", "inner_face")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LFW_HELP = ("get Labeled Faces in the Wild (deep-funneled): download lfw-deepfunneled.tgz from "
            "http://vis-www.cs.umass.edu/lfw/, then: mkdir -p ~/data && tar -xzf lfw-deepfunneled.tgz -C ~/data "
            "&& mv ~/data/lfw-deepfunneled ~/data/lfw")
COLUMNS = ("held-out photo", "hidden (white)", "filled by IN2")


def render(data: str, list_file: str | None, weights: str | None, faces: int, out: Path) -> Path:
    """Fill ``faces`` held-out faces and write the labelled before / hidden / after grid to ``out``."""
    pipe = InpaintPipeline.from_pretrained(weights, device="cpu")
    chosen, _ = select_faces(collect_images(data, None, list_file), Judges(HaarJudge(), DlibJudge()), faces, face_crop)
    if len(chosen) < faces:
        raise SystemExit(f"error: only {len(chosen)} usable faces in {data} (wanted {faces})")
    rows = []
    for i, face in enumerate(chosen):
        mask = part_mask(KINDS[i % len(KINDS)], face, i)
        filled = pipe(face.image, mask, mode="native").image
        rows.append([face.image, face.image * (1 - mask) + mask, filled])
    out.parent.mkdir(parents=True, exist_ok=True)
    labelled_grid(rows, COLUMNS).save(out)
    parts = ", ".join(PART_TITLES[KINDS[i % len(KINDS)]] for i in range(len(chosen)))
    print(f"wrote {out}: {len(chosen)} faces ({parts}); {pipe.describe()}")
    return out


def workflow_thumbnail(photo: Path, mask: Path, weights: str | None, out: Path, side: int = 256) -> Path:
    """The example workflow's thumbnail: a public-domain example photo with its hole, and filled.

    ComfyUI's template browser shows ``<workflow name>.jpg`` beside each workflow."""
    from in2.imaging import image_to_tensor, load_image, load_mask, read_masks

    pipe = InpaintPipeline.from_pretrained(weights, device="cpu")
    image, hole = load_image(photo).convert("RGB"), load_mask(mask)
    filled = pipe(image, hole, mode="native").image
    hidden = np.array(image)
    hidden[read_masks(hole, [(image.height, image.width)])[0].numpy()] = 255  # the mask rule every front end uses
    scale = side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    tiles = [image_to_tensor(t.resize(size, Image.Resampling.LANCZOS)) for t in (Image.fromarray(hidden), filled)]
    out.parent.mkdir(parents=True, exist_ok=True)
    labelled_grid([tiles], ("hidden (white)", "filled by IN2")).save(out, quality=90)
    print(f"wrote {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(Path.home() / "data" / "lfw"), help="the LFW folder (default ~/data/lfw)")
    p.add_argument("--list", default="trainer/splits/lfw_val.txt",
                   help="the held-out people (default: the validation split)")
    p.add_argument("--weights", default=None, help="export folder or Hub repo id (default: bundled demo weights)")
    p.add_argument("--faces", type=int, default=4, help="rows of the picture (default 4)")
    p.add_argument("--out", default="docs/before_after.png")
    p.add_argument("--workflow-thumbnail", default=None, metavar="JPG",
                   help="instead, draw the example workflow's thumbnail (the astronaut example) to this file")
    args = p.parse_args(argv)
    if args.workflow_thumbnail:
        workflow_thumbnail(EXAMPLES / "astronaut_portrait.png", EXAMPLES / "astronaut_portrait_mask.png",
                           args.weights, Path(args.workflow_thumbnail))
        return 0
    if not Path(args.data).expanduser().is_dir():
        print(f"error: no face photos at {args.data}: {LFW_HELP}", file=sys.stderr)
        return 2
    if not 1 <= args.faces <= 16:
        print(f"error: --faces must be from 1 to 16, got {args.faces}", file=sys.stderr)
        return 2
    render(str(Path(args.data).expanduser()), args.list, args.weights, args.faces, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
