"""Training and validation data: image sources, margin crops and per-sample masks.

A sample is addressed by ``(index, H, W, epoch)`` (see ``buckets.py``): the source image is
cropped on its long side's margins to the bucket's aspect (random offset), optionally zoomed
in (``data.zoom``), resized to
``H x W`` and paired with a brush mask, all drawn from ``default_rng([seed, epoch, idx])``
so every rank, worker and resumed run produces the same sample.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from in2.imaging import image_to_tensor, is_image_name, load_image

from .buckets import Sample
from .face_parts import FacePartParams, Landmarks, landmark_part_mask, landmarks_from_68, random_part_mask
from .landmarks import LANDMARKS_FILE, LandmarkTable
from .masks import MaskParams, training_mask
from .synthetic_faces import render_face
from .views import SimilarityParams

log = logging.getLogger("in2.trainer")


def read_rgb(path: Path) -> Image.Image:
    """Open an image file as 8-bit RGB with the core's loader (EXIF orientation applied)."""
    return load_image(path).convert("RGB")


class ImageSource:
    """The images a dataset draws from: ``len``, ``sizes`` (H, W) and ``get(i) -> PIL RGB``."""

    sizes: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.sizes)

    def get(self, i: int) -> Image.Image:
        raise NotImplementedError

    def name(self, i: int) -> str:
        return str(i)

    def landmarks(self, i: int) -> np.ndarray | None:
        """The photo's 68 landmarks in its pixels (``trainer/landmarks.py``), or None."""
        return None

    @property
    def has_landmarks(self) -> bool:
        """Whether this source places face parts per photo (else from the data set's mean face)."""
        return False


class SyntheticSource(ImageSource):
    """``count`` procedural faces of ``size x size``; face ``i`` uses seed ``seed + i``."""

    def __init__(self, count: int, size: int = 512, seed: int = 0) -> None:
        self.count, self.size, self.seed = count, size, seed
        self.sizes = [(size, size)] * count

    def get(self, i: int) -> Image.Image:
        return Image.fromarray(render_face(self.seed + i, self.size, self.size))

    def name(self, i: int) -> str:
        return f"synthetic:{self.seed + i}"


def list_images(root: Path, list_file: Path | None = None) -> list[Path]:
    """All images under ``root`` (recursive, sorted), or those named in ``list_file``.

    A list file holds one entry per line (first token; ``#`` comments allowed): a path
    relative to ``root`` (a file, or a folder meaning every image under it: LFW split files
    list people, ``Aaron_Eckhart``), or a bare file name found anywhere under ``root``
    (CelebA-HQ split files list names like ``12.jpg``).
    """
    root = Path(root).expanduser()  # data.root=~/data/lfw: the shell leaves that ~ alone
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist; set data.root (or --data) to a folder of images "
                                f"(LFW, the faces the docs use: docs/results.md#the-test-faces-where-to-get-them)")
    found = sorted(p for p in root.rglob("*") if is_image_name(p) and p.is_file())
    if list_file is None:
        return found
    by_name: dict[str, Path] = {}
    for p in found:
        by_name.setdefault(p.name, p)
    out = []
    for line in Path(list_file).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        entry = line.split()[0]
        p = root / entry
        if p.is_file():
            out.append(p)
        elif p.is_dir():  # a folder entry, e.g. one person of a face set: every image under it
            out.extend(sorted(q for q in p.rglob("*") if is_image_name(q) and q.is_file()))
        elif Path(entry).name in by_name:
            out.append(by_name[Path(entry).name])
        else:
            log.warning("list file %s names %s, which is not under %s; skipped", list_file, entry, root)
    return out


class FolderSource(ImageSource):
    """Image files; unreadable ones are reported and left out up front. When ``root`` holds a
    ``landmarks.npz`` (``python trainer/landmarks.py ROOT``), each photo's landmarks come with it."""

    def __init__(self, root: Path, list_file: Path | None = None) -> None:
        root = Path(root).expanduser()
        table_path = root / LANDMARKS_FILE
        self.table = LandmarkTable.load(table_path) if table_path.is_file() else None
        self.root = Path(root)
        self.paths: list[Path] = []
        self.sizes = []
        skipped = 0
        for p in list_images(root, list_file):
            try:
                with Image.open(p) as im:
                    w, h = im.size
            except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, never fatal
                log.warning("skipping unreadable image %s (%s)", p, e)
                skipped += 1
                continue
            self.paths.append(p)
            self.sizes.append((h, w))
        if not self.paths:
            raise FileNotFoundError(
                f"no readable images under {root}" + (f" from list {list_file}" if list_file else "")
            )
        if skipped:
            log.warning("%d unreadable file(s) skipped under %s", skipped, root)

    def get(self, i: int) -> Image.Image:
        return read_rgb(self.paths[i])

    def name(self, i: int) -> str:
        return str(self.paths[i])

    def landmarks(self, i: int) -> np.ndarray | None:
        if self.table is None:
            return None
        return self.table.get(self.paths[i].relative_to(self.root).as_posix())

    @property
    def has_landmarks(self) -> bool:
        return self.table is not None


class ConcatSource(ImageSource):
    """Several sources as one, in order (LFW and UTKFace together)."""

    def __init__(self, sources: Sequence[ImageSource]) -> None:
        self.sources = list(sources)
        self.sizes = [hw for src in self.sources for hw in src.sizes]
        self.starts = np.cumsum([0] + [len(src) for src in self.sources])

    def _locate(self, i: int) -> tuple[ImageSource, int]:
        k = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.sources[k], i - int(self.starts[k])

    def get(self, i: int) -> Image.Image:
        src, j = self._locate(i)
        return src.get(j)

    def name(self, i: int) -> str:
        src, j = self._locate(i)
        return src.name(j)

    def landmarks(self, i: int) -> np.ndarray | None:
        src, j = self._locate(i)
        return src.landmarks(j)

    @property
    def has_landmarks(self) -> bool:
        return any(src.has_landmarks for src in self.sources)


def margin_crop_box(src_hw: tuple[int, int], dst_hw: tuple[int, int], offset: float) -> tuple[int, int, int, int]:
    """PIL box (left, top, right, bottom) trimming only the long side to ``dst``'s aspect.

    ``offset`` in [0, 1] places the crop (0.5 = centred, as in evaluation).
    """
    H, W = src_hw
    r = dst_hw[0] / dst_hw[1]
    if r < H / W:  # too tall: trim top/bottom
        ch = max(1, min(H, int(round(W * r))))
        top = int(round((H - ch) * offset))
        return 0, top, W, top + ch
    cw = max(1, min(W, int(round(H / r))))
    left = int(round((W - cw) * offset))
    return left, 0, left + cw, H


@dataclass(frozen=True)
class ZoomParams:
    """Scale augmentation: ``share`` of the samples keep only ``min_side``..1 of the margin crop's
    side (same aspect) before the resize, so the model also sees faces larger than the data set's
    own scale. The zoomed box is centred near the face (the centre of the data set's landmarks),
    so a zoom never crops the face away."""

    share: float = 0.0
    min_side: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0 or not 0.0 < self.min_side <= 1.0:
            raise ValueError(f"data.zoom needs share in [0, 1] and min_side in (0, 1], got {self}")

    def box(self, rng: np.random.Generator, box: tuple[int, int, int, int],
            centre: tuple[float, float]) -> tuple[int, int, int, int]:
        """``box`` itself, or a zoomed box inside it around ``centre`` (source pixels)."""
        if self.share <= 0 or rng.random() >= self.share:
            return box
        left, top, right, bottom = box
        side = float(rng.uniform(self.min_side, 1.0))
        w, h = max(1, round((right - left) * side)), max(1, round((bottom - top) * side))
        cx = centre[0] + float(rng.uniform(-0.15, 0.15)) * w
        cy = centre[1] + float(rng.uniform(-0.15, 0.15)) * h
        x = min(max(round(cx - w / 2), left), right - w)
        y = min(max(round(cy - h / 2), top), bottom - h)
        return x, y, x + w, y + h


def crop_resize(img: Image.Image, height: int, width: int, offset: float = 0.5) -> Image.Image:
    """Margin crop to the aspect of ``height x width`` then resize (antialiased) to it."""
    box = margin_crop_box((img.height, img.width), (height, width), offset)
    img = img.crop(box)
    if img.size != (width, height):
        img = img.resize((width, height), Image.BICUBIC)
    return img


class InpaintDataset(torch.utils.data.Dataset):
    """Maps ``(index, H, W, epoch)`` to ``{"image": [3,H,W], "mask": [1,H,W], "index": int}``.

    A ``face_parts.share`` of the samples get a face-part hole (``face_parts.py``) placed from the
    data set's landmarks, moved with the sample's crop, resize and flip; the rest get brush strokes.
    """

    def __init__(self, source: ImageSource, seed: int = 0, mask_params: MaskParams = MaskParams(),
                 hflip: bool = True, face_parts: FacePartParams = FacePartParams(),
                 zoom: ZoomParams = ZoomParams(), similarity: SimilarityParams = SimilarityParams()) -> None:
        self.source, self.seed, self.mask_params, self.hflip = source, seed, mask_params, hflip
        self.face_parts, self.zoom, self.similarity = face_parts, zoom, similarity

    def __len__(self) -> int:
        return len(self.source)

    def _image(self, idx: int) -> tuple[int, Image.Image]:
        """Read image ``idx``; a file that fails to decode is reported and replaced by the next one."""
        for k in range(len(self.source)):
            j = (idx + k) % len(self.source)
            try:
                return j, self.source.get(j)
            except Exception as e:  # noqa: BLE001 - a bad file must never stop a run
                log.warning("skipping unreadable image %s (%s)", self.source.name(j), e)
        raise RuntimeError("no image of the dataset could be read")

    def __getitem__(self, sample: Sample) -> dict:
        if self.similarity.share > 0:
            return self._view_sample(sample)
        idx, h, w, epoch = sample
        rng = np.random.default_rng([self.seed, epoch, idx, 1])  # crop/flip stream; masks use [seed, epoch, idx]
        _, img = self._image(idx)
        src_w, src_h = img.size
        box = margin_crop_box((src_h, src_w), (h, w), float(rng.random()))
        face = Landmarks.from_fractions(self.face_parts.landmarks, src_w, src_h)
        box = self.zoom.box(np.random.default_rng([self.seed, epoch, idx, 3]), box, face.centre)
        img = crop_resize(img.crop(box), h, w)
        flip = self.hflip and rng.random() < 0.5
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        part_rng = np.random.default_rng([self.seed, epoch, idx, 2])
        if self.face_parts.share > 0 and part_rng.random() < self.face_parts.share:
            left, top, right, bottom = box
            marks = face.map(
                lambda x: (x - left) * w / (right - left), lambda y: (y - top) * h / (bottom - top))
            if flip:
                marks = marks.map(lambda x: w - x, lambda y: y)
            mask = random_part_mask(part_rng, marks, h, w, self.face_parts)
        else:
            mask = training_mask(self.seed, epoch, idx, h, w, self.mask_params)
        return {"image": image_to_tensor(img), "mask": torch.from_numpy(mask[None].astype(np.float32)), "index": idx}

    def _view_sample(self, sample: Sample) -> dict:
        """A sample through a random similarity view, its face-part hole from the photo's own
        landmarks (or, for a source without landmarks, from the data set's mean face)."""
        idx, h, w, epoch = sample
        j, img = self._image(idx)
        points = self.source.landmarks(j)
        face = (landmarks_from_68(points) if points is not None
                else Landmarks.from_fractions(self.face_parts.landmarks, img.width, img.height))
        view = self.similarity.view(np.random.default_rng([self.seed, epoch, idx, 3]), img.size, (h, w), face.centre,
                                     face.eye_distance)
        img = view.render(img)
        flip = self.hflip and np.random.default_rng([self.seed, epoch, idx, 1]).random() < 0.5
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        part_rng = np.random.default_rng([self.seed, epoch, idx, 2])
        wants_part = self.face_parts.share > 0 and part_rng.random() < self.face_parts.share
        if wants_part and points is not None:
            pts = view.from_photo(points)
            if flip:
                pts[:, 0] = w - pts[:, 0]
            mask = landmark_part_mask(part_rng, pts, h, w, self.face_parts)
        elif wants_part and not self.source.has_landmarks:
            three = np.array([face.eye_a, face.eye_b, face.mouth])
            pts = view.from_photo(three)
            if flip:
                pts[:, 0] = w - pts[:, 0]
            mask = random_part_mask(part_rng, Landmarks(*map(tuple, pts)), h, w, self.face_parts)
        else:  # brush strokes (also for a photo in which no face was found)
            mask = training_mask(self.seed, epoch, idx, h, w, self.mask_params)
        return {"image": image_to_tensor(img), "mask": torch.from_numpy(mask[None].astype(np.float32)), "index": idx}


def build_source(cfg: dict, split: str = "train") -> ImageSource:
    """Image source from the ``data`` config section for ``split`` ("train" or "val")."""
    kind = cfg.get("source", "synthetic")
    if kind == "synthetic":
        syn = cfg.get("synthetic", {})
        if split == "train":
            return SyntheticSource(int(syn.get("count", 1000)), int(syn.get("size", 512)), int(syn.get("seed", 0)))
        # Held-out faces: seeds far from the training range.
        return SyntheticSource(int(syn.get("val_count", 16)), int(syn.get("size", 512)),
                               int(syn.get("val_seed", 1_000_000)))
    if kind == "folder":
        root = cfg.get("root") or os.environ.get("IN2_DATA_ROOT")
        if not root:
            raise ValueError("data.source is 'folder' but data.root is not set (or set IN2_DATA_ROOT)")
        root = Path(root)
        list_file = cfg.get(f"{split}_list")
        val_root = cfg.get("val_root")
        if split == "val" and val_root:
            return FolderSource(Path(val_root), Path(list_file) if list_file else None)
        if split == "val" and not list_file:
            raise ValueError("data.source 'folder' needs data.val_list or data.val_root for validation")
        main = FolderSource(root, Path(list_file) if list_file else None)
        extra = cfg.get("extra") or []
        if split == "val" or not extra:
            return main
        # more training folders (e.g. UTKFace beside LFW): each {root, train_list}
        more = [FolderSource(Path(e["root"]), Path(e["train_list"]) if e.get("train_list") else None) for e in extra]
        return ConcatSource([main, *more])
    raise ValueError(f"unknown data.source {kind!r}; use 'synthetic' or 'folder'")


class ValidationSet:
    """A fixed list of (image, mask) pairs at varied bucket shapes, built once per run.

    Image ``i`` is centre-cropped to bucket ``i mod len(buckets)`` so validation covers every
    aspect ratio; its mask uses the reserved epoch ``2**31 - 1``, which training never reaches.
    """

    def __init__(self, source: ImageSource, count: int, buckets: Sequence[tuple[int, int]], seed: int,
                 mask_params: MaskParams = MaskParams(), extra_images: Sequence[Path] = ()) -> None:
        self.items: list[tuple[torch.Tensor, torch.Tensor]] = []
        images: list[Image.Image] = [source.get(i) for i in range(min(count, len(source)))]
        for p in extra_images:
            p = Path(p)
            if p.is_file():
                images.append(read_rgb(p))
            else:
                log.warning("validation image %s not found; skipped", p)
        for i, img in enumerate(images):
            h, w = buckets[i % len(buckets)]
            img = crop_resize(img, h, w, 0.5)
            mask = training_mask(seed, 2**31 - 1, i, h, w, mask_params)
            self.items.append((image_to_tensor(img), torch.from_numpy(mask[None].astype(np.float32))))

    def __len__(self) -> int:
        return len(self.items)


def collate(batch: list[dict]) -> dict:
    return {
        "image": torch.stack([b["image"] for b in batch]),
        "mask": torch.stack([b["mask"] for b in batch]),
        "index": torch.tensor([b["index"] for b in batch]),
    }
