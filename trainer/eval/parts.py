"""The face-part evaluation: hide both eyes, one eye, the nose, the mouth or the inner face.

    python trainer/eval/compare_fills.py --protocol parts --weights in2/demo_weights --data ~/data/lfw \\
        --list trainer/splits/lfw_val.txt --limit 300 --fills native,telea,original

Each validation photo is resized to 256 x 256. Photos in which the Haar judges
(``face_judge.py``) do not find a face with one eye in each half are left out; the others take
one photo per person first, then further photos of the same people until ``--limit``. Each
part's hole is placed from the eyes found in that photo (``face_parts.py``). For every fill and
part it reports hole PSNR and whole-image SSIM (the core's scoring), the share of hidden eyes
found again near where they were, the share of results in which the face is found again, and
the Frechet distance of EfficientNet-Lite0 pooled features to real faces (other photos of the
same validation people). ``original`` is the photo itself: the ceiling of every judge.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from in2.imaging import image_to_tensor

from trainer.eval.protocol import Fill, load_test_image
from trainer.eval.face_judge import FaceFound, HaarJudge, PooledFeatures, frechet_distance
from trainer.face_parts import PART_KINDS, draw_part
from trainer.eval.gallery import labelled_grid
from trainer.eval.metrics import as_uint8, score

SIDE = 256
REFERENCE_FACES = 600  # real faces for the Frechet distance: twice the test set, a few seconds of features
PART_TITLES = {"eyes": "both eyes", "eye": "one eye", "nose": "nose", "mouth": "mouth", "inner_face": "inner face"}


@dataclass(frozen=True)
class TestFace:
    """A validation photo at 256 x 256 and what the judges found in it."""

    image: torch.Tensor  # [1, 3, 256, 256] in [0, 1]
    found: FaceFound
    path: str


def select_faces(paths: Sequence, judge: HaarJudge, limit: int,
                 prepare: Callable[[Image.Image, int, int], Image.Image]) -> tuple[list[TestFace], list]:
    """Test faces (one per person first) and the photos left over for the real-face reference."""
    first, more, rest = [], [], []
    seen_people: set = set()
    for p in paths:
        image = image_to_tensor(prepare(load_test_image(p), SIDE, SIDE))[None]
        found = judge.find(as_uint8(image))
        person = Path(p).parent
        if found is None:
            rest.append(p)
        elif person not in seen_people:
            seen_people.add(person)
            first.append(TestFace(image, found, str(p)))
        else:
            more.append(TestFace(image, found, str(p)))
    chosen = (first + more)[:limit]
    chosen_paths = {f.path for f in chosen}
    rest += [f.path for f in first + more if f.path not in chosen_paths]
    return chosen, rest


def real_features(features: PooledFeatures, paths: Sequence,
                  prepare: Callable[[Image.Image, int, int], Image.Image], batch: int = 32) -> np.ndarray:
    """Pooled features of the real faces the fills are compared with, in batches."""
    out = []
    for start in range(0, len(paths), batch):
        images = [image_to_tensor(prepare(load_test_image(p), SIDE, SIDE)) for p in paths[start: start + batch]]
        out.append(features(torch.stack(images)))
    return np.concatenate(out)


def part_mask(kind: str, face: TestFace, index: int) -> torch.Tensor:
    """The hole of one part, [1, 1, 256, 256]; ``eye`` alternates between the two eyes."""
    m = draw_part(kind, face.found.landmarks, SIDE, SIDE, eye_index=index % 2)
    return torch.from_numpy(m[None, None].astype(np.float32))


def hidden_eyes(kind: str, face: TestFace, index: int) -> list[tuple[float, float]]:
    if kind in ("eyes", "inner_face"):
        return list(face.found.eyes)
    if kind == "eye":
        return [face.found.landmarks.eye_a if index % 2 == 0 else face.found.landmarks.eye_b]
    return []


def evaluate_parts(fills: dict[str, Fill], faces: Sequence[TestFace], kinds: Sequence[str], judge: HaarJudge,
                   features: PooledFeatures | None, reference: np.ndarray | None,
                   log: Callable[[str], None] = print) -> list[dict]:
    """One row per (fill, part): hole PSNR, SSIM, eyes and face found again, Frechet distance."""
    rows = []
    for kind in kinds:
        for name, fill in fills.items():
            psnr, ssim, eyes_hidden, eyes_found, faces_found, feats = [], [], 0, 0, 0, []
            for i, face in enumerate(faces):
                mask = part_mask(kind, face, i)
                out = fill(face.image, mask)
                s = score(out, face.image, mask)
                psnr.append(s["masked_psnr"].item())
                ssim.append(s["ssim"].item())
                rgb = as_uint8(out)
                hidden = hidden_eyes(kind, face, i)
                eyes_hidden += len(hidden)
                eyes_found += judge.eyes_found_again(rgb, face.found, hidden) if hidden else 0
                faces_found += judge.face_found_again(rgb, face.found)
                if features is not None:
                    feats.append(features(out))
            finite = [v for v in psnr if np.isfinite(v)]
            row = {"fill": name, "part": kind, "n": len(faces),
                   "hole_psnr": float(np.mean(finite)) if finite else float("inf"),
                   "ssim": float(np.mean(ssim)),
                   "eyes_found": eyes_found / eyes_hidden if eyes_hidden else None,
                   "face_found": faces_found / max(1, len(faces)),
                   "frechet": frechet_distance(np.concatenate(feats), reference)
                   if features is not None and reference is not None else None}
            rows.append(row)
            eyes = "" if row["eyes_found"] is None else f" eyes found {row['eyes_found']:.0%}"
            fd = "" if row["frechet"] is None else f" FD {row['frechet']:.2f}"
            log(f"{name:>16s} {kind:>10s} n={row['n']} hole-PSNR {row['hole_psnr']:.2f} SSIM {row['ssim']:.3f}"
                f"{eyes} face found {row['face_found']:.0%}{fd}")
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def detection_table(rows: list[dict]) -> str:
    """Fills as rows: hidden eyes found again (both, one) and faces found again per part."""
    by = {(r["fill"], r["part"]): r for r in rows}
    fills = list(dict.fromkeys(r["fill"] for r in rows))
    kinds = list(dict.fromkeys(r["part"] for r in rows))
    cols = [(k, "eyes_found") for k in kinds if k in ("eyes", "eye", "inner_face")] + \
           [(k, "face_found") for k in kinds]
    head = " | ".join(f"{PART_TITLES[k]} hidden: {'eyes' if m == 'eyes_found' else 'face'} found" for k, m in cols)
    lines = [f"| fill | {head} |", "|---|" + "---|" * len(cols)]
    for f in fills:
        lines.append(f"| {f} | " + " | ".join(_pct(by[(f, k)][m]) for k, m in cols) + " |")
    return "\n".join(lines) + "\n"


def quality_table(rows: list[dict]) -> str:
    """Fills as rows, parts as columns: hole PSNR / SSIM / Frechet distance."""
    by = {(r["fill"], r["part"]): r for r in rows}
    fills = list(dict.fromkeys(r["fill"] for r in rows))
    kinds = list(dict.fromkeys(r["part"] for r in rows))
    lines = ["| fill (hole PSNR dB / SSIM / FD) | " + " | ".join(PART_TITLES[k] for k in kinds) + " |",
             "|---|" + "---|" * len(kinds)]
    for f in fills:
        cells = []
        for k in kinds:
            r = by[(f, k)]
            psnr = "inf" if not np.isfinite(r["hole_psnr"]) else f"{r['hole_psnr']:.2f}"
            fd = "-" if r["frechet"] is None else f"{r['frechet']:.2f}"
            cells.append(f"{psnr} / {r['ssim']:.3f} / {fd}")
        lines.append(f"| {f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parts_gallery(path: Path, faces: Sequence[TestFace], fills: dict[str, Fill], kinds: Sequence[str],
                  per_kind: int = 1) -> None:
    """Rows of photo | masked input | each fill, ``per_kind`` faces for each part, under named columns."""
    rows = []
    for k, kind in enumerate(kinds):
        for j in range(per_kind):
            i = (k * per_kind + j) % len(faces)
            face, mask = faces[i], part_mask(kind, faces[i], i)
            rows.append([face.image, face.image * (1 - mask) + mask] + [fill(face.image, mask) for fill in fills.values()])
    path.parent.mkdir(parents=True, exist_ok=True)
    labelled_grid(rows, ["photo", "hidden part (white)", *fills]).save(path)


def run(fills: dict[str, Fill], paths: Sequence, limit: int, kinds: Sequence[str], out: Path,
        prepare: Callable[[Image.Image, int, int], Image.Image], frechet: bool = True, header: str = "",
        gallery: Path | None = None, gallery_fills: Sequence[str] = ()) -> list[dict]:
    """Select the faces, score every fill on every part, write ``parts.json`` and ``parts.md``."""
    unknown = set(kinds) - set(PART_KINDS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {', '.join(PART_KINDS)}")
    judge = HaarJudge()
    faces, rest = select_faces(paths, judge, limit, prepare)
    if not faces:
        raise SystemExit("the judges found no face with both eyes in the test photos")
    features = reference = None
    if frechet:
        features = PooledFeatures()
        reference = real_features(features, rest[:REFERENCE_FACES], prepare)
    print(f"{len(faces)} test faces ({len({Path(f.path).parent for f in faces})} people); "
          f"{0 if reference is None else len(reference)} real faces for the Frechet distance")
    rows = evaluate_parts(fills, faces, kinds, judge, features, reference)
    out.mkdir(parents=True, exist_ok=True)
    (out / "parts.json").write_text(json.dumps(rows, indent=1))
    text = (header + f"{len(faces)} test faces, 256x256\n\n" + detection_table(rows) + "\n"
            + quality_table(rows))
    (out / "parts.md").write_text(text)
    print("\n" + text)
    if gallery is not None:
        shown = {k: v for k, v in fills.items() if k in gallery_fills} or fills
        parts_gallery(gallery, faces, shown, [k for k in ("eyes", "eye", "mouth", "inner_face") if k in kinds] or kinds)
        print(f"wrote {gallery}")
    return rows
