"""Per-photo face landmarks: found once with dlib, stored beside the photos, read by the trainer.

Face-part holes placed from a data set's mean face only fit photos aligned like that mean (LFW
deep-funneled); UTKFace crops, zoomed and rotated samples and real photos put the eyes anywhere.
So every training photo gets its own 68 landmarks (iBUG 300-W order: jaw 0-16, brows 17-26,
nose 27-35, eyes 36-47, mouth 48-67) from dlib's HOG face detector and shape predictor, written
once into ``<root>/landmarks.npz`` and moved with each sample's crop, rotation and flip.

dlib is a judge here, never a loss: it only decides where a training hole goes.

    python trainer/landmarks.py ~/data/utk            # writes ~/data/utk/landmarks.npz
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LANDMARKS_FILE = "landmarks.npz"
EYE_A, EYE_B, MOUTH = slice(36, 42), slice(42, 48), slice(48, 68)


def dlib_model_dir() -> Path:
    """The folder of dlib's model files shipped by ``face-recognition-models`` (no pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the landmark finder needs dlib's models: pip install dlib-bin face-recognition-models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class LandmarkFinder:
    """dlib's HOG face detector plus its 68-point shape predictor, fixed settings."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as e:
            raise SystemExit("the landmark finder needs dlib: pip install dlib-bin face-recognition-models") from e
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_dir() / "shape_predictor_68_face_landmarks.dat"))

    def faces(self, rgb: np.ndarray, upsample: int = 0) -> list:
        """dlib rectangles of the frontal faces in an RGB uint8 photo, largest first."""
        found = list(self.detector(np.ascontiguousarray(rgb), upsample))
        return sorted(found, key=lambda r: r.width() * r.height(), reverse=True)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """The 68 ``(x, y)`` points of the largest face, or None when no face is found."""
        faces = self.faces(rgb) or self.faces(rgb, 1)
        if not faces:
            return None
        shape = self.predictor(np.ascontiguousarray(rgb), faces[0])
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


@dataclass
class LandmarkTable:
    """68 landmarks per photo, keyed by the photo's path relative to its data folder."""

    points: dict[str, np.ndarray]

    @classmethod
    def load(cls, path: Path) -> LandmarkTable:
        with np.load(path, allow_pickle=False) as z:
            names, pts = z["names"], z["points"]
        return cls({str(n): p for n, p in zip(names, pts, strict=True)})

    def save(self, path: Path) -> None:
        names = sorted(self.points)
        pts = np.stack([self.points[n] for n in names]) if names else np.zeros((0, 68, 2), np.float32)
        tmp = path.with_name(path.name + ".part.npz")
        np.savez_compressed(tmp, names=np.array(names), points=pts.astype(np.float32))
        tmp.replace(path)

    def get(self, name: str) -> np.ndarray | None:
        return self.points.get(name)

    def __len__(self) -> int:
        return len(self.points)


def find_all(root: Path, out: Path, every: int = 500) -> LandmarkTable:
    """Find the landmarks of every image under ``root``; resumes from ``out`` when it exists."""
    from in2.imaging import is_image_name, load_image

    table = LandmarkTable.load(out) if out.is_file() else LandmarkTable({})
    finder = LandmarkFinder()
    paths = sorted(p for p in root.rglob("*") if is_image_name(p) and p.is_file())
    missing = 0
    for k, p in enumerate(paths, 1):
        name = p.relative_to(root).as_posix()
        if name in table.points:
            continue
        pts = finder(np.asarray(load_image(p).convert("RGB")))
        if pts is None:
            missing += 1
        else:
            table.points[name] = pts
        if k % every == 0:
            table.save(out)
            print(f"{k}/{len(paths)} photos, {len(table)} with a face", flush=True)
    table.save(out)
    print(f"{len(table)} of {len(paths)} photos have landmarks ({missing} without a face this run) -> {out}")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Find 68 face landmarks for every photo under a folder (dlib).")
    ap.add_argument("root", type=Path, help="a folder of face photos (searched recursively)")
    ap.add_argument("--out", type=Path, default=None, help=f"output file (default ROOT/{LANDMARKS_FILE})")
    args = ap.parse_args(argv)
    root = args.root.expanduser()
    if not root.is_dir():
        print(f"landmarks: {root} is not a folder", file=sys.stderr)
        return 2
    find_all(root, (args.out or root / LANDMARKS_FILE).expanduser())
    return 0


if __name__ == "__main__":
    sys.exit(main())
