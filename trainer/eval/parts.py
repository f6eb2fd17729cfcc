"""The face-part evaluation: hide both eyes, one eye, the nose, the mouth or the inner face.

    python trainer/eval/compare_fills.py --protocol parts --weights in2/demo_weights \\
        --set lfw=~/data/lfw:trainer/splits/lfw_val.txt --set utk=~/data/utk:trainer/splits/utk_val.txt \\
        --limit 300 --fills native,telea,donor,original

Each validation photo is resized to 256 x 256. A photo is a test face when both judge families
accept it: dlib's HOG detector finds a face and its 68 landmarks, and OpenCV's Haar cascades find
a face with one eye in each half. People come first (one photo each), then further photos of
the same people until ``--limit``. Each part's hole is placed from that photo's own landmarks.

What each number sees, and what it cannot:
- hole PSNR / SSIM: closeness to the hidden pixels. Rewards the average of all plausible
  contents, so a blur scores well; it cannot tell a drawn eye from a smear.
- detail: the standard deviation of the grey Laplacian inside the hole (a 3-pixel seam left
  out), fill over original, averaged over faces; also over the sharpest third of the originals.
  A smear scores near 0, the photo 1. It sees texture, not correctness: noise would score high.
  On small JPEGs shown enlarged it is inflated (the original has little detail to lose).
- identity distance: dlib's 128-d face-recognition distance between fill and original, both
  aligned by the original's landmarks; "same person" is the share under 0.6, dlib's threshold.
  It sees whether the filled face reads as the same person; it is blind to seams and artefacts
  a person would notice.
- HOG face found: dlib's HOG detector finds a face overlapping the original's. A melted inner
  face fails it; a crude but face-shaped fill passes.
- Haar eyes / face found: OpenCV's Haar cascades find the hidden eyes again near their place,
  or the face. Faint eye-shaped strokes pass them: a floor, not a bar.
- FD: the Frechet distance of EfficientNet-Lite0 pooled features to real faces (with few test
  faces it carries a large bias; compare rows only).
``original`` is the photo itself, the ceiling of every judge. ``donor paste`` pastes the same
part from another test person's photo (aligned by eyes and mouth, Poisson-blended): a fill that
keeps identity worse than that has not learned the face it fills.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from in2.compositing import paste_into_hole
from in2.imaging import image_to_tensor
from trainer.eval.face_judge import (
    SAME_PERSON,
    DlibFace,
    DlibJudge,
    FaceFound,
    HaarJudge,
    PooledFeatures,
    detail,
    frechet_distance,
    seamless_region,
)
from trainer.eval.gallery import labelled_grid
from trainer.eval.metrics import as_uint8, score
from trainer.eval.protocol import load_test_image
from trainer.face_parts import PART_KINDS, draw_part

SIDE = 256
REFERENCE_FACES = 600  # real faces for the Frechet distance: twice the test set, a few seconds of features
PART_TITLES = {"eyes": "both eyes", "eye": "one eye", "nose": "nose", "mouth": "mouth", "inner_face": "inner face"}


@dataclass(frozen=True)
class TestFace:
    """A validation photo at ``SIDE x SIDE`` and what the judges found in it."""

    image: torch.Tensor  # [1, 3, SIDE, SIDE] in [0, 1]
    found: FaceFound  # the Haar judges' face and eyes
    dlib: DlibFace  # the HOG face and its 68 landmarks: they place the holes
    path: str
    descriptor: np.ndarray  # the original's face-recognition descriptor


@dataclass
class Judges:
    """Every judge of the protocol, built once."""

    haar: HaarJudge
    dlib: DlibJudge


def _person(paths: Sequence) -> Callable[[Path], object]:
    """Person folders (LFW) group photos; a flat folder (UTKFace) makes every photo its own."""
    one_folder = len({Path(p).parent for p in paths}) <= 1
    return (lambda p: p) if one_folder else (lambda p: Path(p).parent)


def select_faces(paths: Sequence, judges: Judges, limit: int,
                 prepare: Callable[[Image.Image, int, int], Image.Image]) -> tuple[list[TestFace], list]:
    """Test faces (one per person first) that both judges accept, and the photos left over."""
    first, more, rest = [], [], []
    seen_people: set = set()
    person_of = _person(paths)
    for p in paths:
        if len(first) >= limit:
            rest.append(p)
            continue
        image = image_to_tensor(prepare(load_test_image(p), SIDE, SIDE))[None]
        rgb = as_uint8(image)
        found = judges.haar.find(rgb)
        face = judges.dlib.find(rgb) if found is not None else None
        if face is None:
            rest.append(p)
            continue
        test = TestFace(image, found, face, str(p), judges.dlib.descriptor(rgb, face))
        person = person_of(p)
        if person not in seen_people:
            seen_people.add(person)
            first.append(test)
        else:
            more.append(test)
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
    """The hole of one part, placed from the photo's own landmarks; ``eye`` alternates sides."""
    m = draw_part(kind, face.dlib.landmarks, SIDE, SIDE, eye_index=index % 2)
    return torch.from_numpy(m[None, None].astype(np.float32))


def hidden_eyes(kind: str, face: TestFace, index: int) -> list[tuple[float, float]]:
    marks = face.dlib.landmarks
    if kind in ("eyes", "inner_face"):
        return [marks.eye_a, marks.eye_b]
    if kind == "eye":
        return [marks.eye_a if index % 2 == 0 else marks.eye_b]
    return []


class DonorPaste:
    """The face-swap shortcut: the same part cut from ANOTHER test person's photo (aligned by eyes
    and mouth) and Poisson-blended into the hole (OpenCV ``seamlessClone``). A fill that cannot
    beat this on identity has not learned the face it fills."""

    def __call__(self, face: TestFace, donor: TestFace, mask: torch.Tensor) -> torch.Tensor:
        import cv2

        def three(f: TestFace) -> np.ndarray:
            m = f.dlib.landmarks
            return np.array([m.eye_a, m.eye_b, m.mouth], dtype=np.float32)

        matrix, _ = cv2.estimateAffinePartial2D(three(donor), three(face))
        target = np.ascontiguousarray(as_uint8(face.image))
        if matrix is None:
            return face.image
        warped = cv2.warpAffine(np.ascontiguousarray(as_uint8(donor.image)), matrix, (SIDE, SIDE),
                                flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        hole = (mask[0, 0].numpy() > 0.5).astype(np.uint8) * 255
        hole[:2], hole[-2:], hole[:, :2], hole[:, -2:] = 0, 0, 0, 0  # Poisson needs a border around the hole
        ys, xs = np.nonzero(hole)
        if len(xs) == 0:
            return face.image
        centre = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
        blended = cv2.seamlessClone(warped, target, hole, centre, cv2.NORMAL_CLONE)
        out = torch.from_numpy(blended).permute(2, 0, 1)[None].float() / 255
        return paste_into_hole(face.image, out, mask)


DONOR = "donor paste (another person, Poisson)"


def _fill(fill, faces: Sequence[TestFace], i: int, mask: torch.Tensor) -> torch.Tensor:
    """Face ``i`` filled; the donor paste takes its part from the next test face."""
    if isinstance(fill, DonorPaste):
        return fill(faces[i], faces[(i + 1) % len(faces)], mask)
    return fill(faces[i].image, mask)


def evaluate_parts(fills: dict, faces: Sequence[TestFace], kinds: Sequence[str], judges: Judges,
                   features: PooledFeatures | None, reference: np.ndarray | None,
                   log: Callable[[str], None] = print) -> list[dict]:
    """One row per (fill, part): hole PSNR, SSIM, detail ratio, identity, HOG and Haar, FD."""
    rows = []
    for kind in kinds:
        for name, fill in fills.items():
            acc: dict[str, list] = {k: [] for k in ("psnr", "ssim", "detail", "sharpness", "distance", "hog")}
            eyes_hidden = eyes_found = faces_found = 0
            feats = []
            for i, face in enumerate(faces):
                mask = part_mask(kind, face, i)
                out = _fill(fill, faces, i, mask)
                s = score(out, face.image, mask)
                acc["psnr"].append(s["masked_psnr"].item())
                acc["ssim"].append(s["ssim"].item())
                rgb, original = as_uint8(out), as_uint8(face.image)
                inner = seamless_region(mask[0, 0].numpy() > 0.5)
                sharp = detail(original, inner)
                acc["sharpness"].append(sharp)
                acc["detail"].append(detail(rgb, inner) / max(sharp, 1e-6))
                acc["distance"].append(float(np.linalg.norm(judges.dlib.descriptor(rgb, face.dlib) - face.descriptor)))
                acc["hog"].append(judges.dlib.face_found_again(rgb, face.dlib))
                hidden = hidden_eyes(kind, face, i)
                eyes_hidden += len(hidden)
                eyes_found += judges.haar.eyes_found_again(rgb, face.found, hidden) if hidden else 0
                faces_found += judges.haar.face_found_again(rgb, face.found)
                if features is not None:
                    feats.append(features(out))
            rows.append(_row(name, kind, acc, eyes_hidden, eyes_found, faces_found, feats, features, reference))
            log(_log_line(rows[-1]))
    return rows


def _row(name: str, kind: str, acc: dict, eyes_hidden: int, eyes_found: int, faces_found: int, feats: list,
         features, reference) -> dict:
    n = len(acc["psnr"])
    finite = [v for v in acc["psnr"] if np.isfinite(v)]
    detail_ratio, sharpness = np.asarray(acc["detail"]), np.asarray(acc["sharpness"])
    sharp_third = np.argsort(-sharpness)[: max(1, n // 3)]
    distance = np.asarray(acc["distance"])
    return {"fill": name, "part": kind, "n": n,
            "hole_psnr": float(np.mean(finite)) if finite else float("inf"),
            "ssim": float(np.mean(acc["ssim"])),
            "detail": float(detail_ratio.mean()),
            "detail_sharp": float(detail_ratio[sharp_third].mean()),
            "identity_distance": float(distance.mean()),
            "same_person": float((distance < SAME_PERSON).mean()),
            "hog_face_found": float(np.mean(acc["hog"])),
            "eyes_found": eyes_found / eyes_hidden if eyes_hidden else None,
            "face_found": faces_found / max(1, n),
            "frechet": frechet_distance(np.concatenate(feats), reference)
            if features is not None and reference is not None else None}


def _log_line(row: dict) -> str:
    eyes = "" if row["eyes_found"] is None else f" Haar eyes {row['eyes_found']:.0%}"
    fd = "" if row["frechet"] is None else f" FD {row['frechet']:.2f}"
    return (f"{row['fill']:>16.16s} {row['part']:>10s} n={row['n']} PSNR {row['hole_psnr']:.2f} "
            f"detail {row['detail']:.2f} (sharp {row['detail_sharp']:.2f}) id {row['identity_distance']:.3f} "
            f"same {row['same_person']:.0%} HOG {row['hog_face_found']:.0%}{eyes} "
            f"Haar face {row['face_found']:.0%}{fd}")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


TABLE_HEAD = ("| fill | hole PSNR dB | detail (all / sharpest third) | identity distance | same person "
              "| HOG face found | Haar eyes found | Haar face found | FD |")


def part_table(rows: list[dict], kind: str) -> str:
    """One part: fills as rows, every judge as a column."""
    lines = [f"**{PART_TITLES[kind]} hidden** (n={rows[0]['n']})", "", TABLE_HEAD, "|---" * 9 + "|"]
    for r in rows:
        psnr = "-" if not np.isfinite(r["hole_psnr"]) else f"{r['hole_psnr']:.2f}"
        fd = "-" if r["frechet"] is None else f"{r['frechet']:.1f}"
        lines.append(f"| {r['fill']} | {psnr} | {r['detail']:.2f} / {r['detail_sharp']:.2f} | "
                     f"{r['identity_distance']:.3f} | {_pct(r['same_person'])} | {_pct(r['hog_face_found'])} | "
                     f"{_pct(r['eyes_found'])} | {_pct(r['face_found'])} | {fd} |")
    return "\n".join(lines) + "\n"


def tables(rows: list[dict]) -> str:
    kinds = list(dict.fromkeys(r["part"] for r in rows))
    return "\n".join(part_table([r for r in rows if r["part"] == k], k) for k in kinds)


CAPTION = 18  # pixels of the judges' caption under each gallery tile


def _caption(tile: torch.Tensor, text: str) -> torch.Tensor:
    """``tile`` ([1, 3, H, W] in [0, 1]) with a white band of ``text`` under it."""
    from PIL import ImageDraw

    band = Image.new("RGB", (tile.shape[-1], CAPTION), (255, 255, 255))
    ImageDraw.Draw(band).text((3, 3), text, fill=(0, 0, 0))
    return torch.cat([tile[0].clamp(0, 1), image_to_tensor(band)], dim=1)


def parts_gallery(path: Path, faces: Sequence[TestFace], fills: dict, kinds: Sequence[str], judges: Judges,
                  per_kind: int = 1) -> None:
    """Rows of photo | hidden part | each fill under named columns; under every fill what the judges
    say of it: detail ratio, identity distance, whether the HOG detector finds the face."""
    rows = []
    for k, kind in enumerate(kinds):
        for j in range(per_kind):
            i = (k * per_kind + j) % len(faces)
            face, mask = faces[i], part_mask(kind, faces[i], i)
            original = as_uint8(face.image)
            inner = seamless_region(mask[0, 0].numpy() > 0.5)
            tiles = [_caption(face.image, PART_TITLES[kind]), _caption(face.image * (1 - mask) + mask, "")]
            for fill in fills.values():
                out = _fill(fill, faces, i, mask)
                rgb = as_uint8(out)
                ratio = detail(rgb, inner) / max(detail(original, inner), 1e-6)
                dist = float(np.linalg.norm(judges.dlib.descriptor(rgb, face.dlib) - face.descriptor))
                hog = "face" if judges.dlib.face_found_again(rgb, face.dlib) else "NO face"
                tiles.append(_caption(out, f"detail {ratio:.2f}  id {dist:.2f}  {hog}"))
            rows.append(tiles)
    path.parent.mkdir(parents=True, exist_ok=True)
    labelled_grid(rows, ["photo", "hidden part (white)", *(n.split(" (")[0] for n in fills)]).save(path)


def run(fills: dict, paths: Sequence, limit: int, kinds: Sequence[str], out: Path,
        prepare: Callable[[Image.Image, int, int], Image.Image], frechet: bool = True, header: str = "",
        gallery: Path | None = None, gallery_fills: Sequence[str] = ()) -> list[dict]:
    """Select the faces, score every fill on every part, write ``parts.json`` and ``parts.md``."""
    unknown = set(kinds) - set(PART_KINDS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {', '.join(PART_KINDS)}")
    judges = Judges(HaarJudge(), DlibJudge())
    faces, rest = select_faces(paths, judges, limit, prepare)
    if len(faces) < 2:
        raise SystemExit("the judges found fewer than two faces in the test photos")
    features = reference = None
    if frechet:
        features = PooledFeatures()
        reference = real_features(features, rest[:REFERENCE_FACES], prepare)
    people = len({_person(paths)(Path(f.path)) for f in faces})
    print(f"{len(faces)} test faces ({people} people); "
          f"{0 if reference is None else len(reference)} real faces for the Frechet distance")
    rows = evaluate_parts(fills, faces, kinds, judges, features, reference)
    out.mkdir(parents=True, exist_ok=True)
    (out / "parts.json").write_text(json.dumps(rows, indent=1))
    text = header + f"{len(faces)} test faces ({people} people), {SIDE}x{SIDE}\n\n" + tables(rows)
    (out / "parts.md").write_text(text)
    print("\n" + text)
    if gallery is not None:
        shown = {k: v for k, v in fills.items() if k in gallery_fills} or fills
        parts_gallery(gallery, faces, shown, [k for k in ("eyes", "eye", "mouth", "inner_face") if k in kinds] or kinds,
                      judges)
        print(f"wrote {gallery}")
    return rows
