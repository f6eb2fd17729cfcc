"""Random similarity views, per-photo landmarks and the face-part holes placed from them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from trainer.data import ConcatSource, ImageSource, InpaintDataset
from trainer.face_parts import PART_KINDS, FacePartParams, landmark_part_mask, landmarks_from_68
from trainer.landmarks import LandmarkTable
from trainer.views import SimilarityParams


def _face_points(cx: float, cy: float, d: float) -> np.ndarray:
    """68 plausible landmarks of an upright face with eye distance ``d`` centred at (cx, cy)."""
    pts = np.zeros((68, 2), np.float32)
    pts[0:17] = [(cx - d + 2 * d * k / 16, cy + 0.3 * d + 0.6 * d * math.sin(math.pi * k / 16)) for k in range(17)]
    pts[17:22] = [(cx - 0.8 * d + 0.12 * d * k, cy - 0.75 * d) for k in range(5)]
    pts[22:27] = [(cx + 0.3 * d + 0.12 * d * k, cy - 0.75 * d) for k in range(5)]
    pts[27:36] = [(cx + 0.05 * d * (k % 3 - 1), cy - 0.4 * d + 0.08 * d * k) for k in range(9)]
    for start, ex in ((36, cx - 0.5 * d), (42, cx + 0.5 * d)):
        pts[start:start + 6] = [(ex + 0.2 * d * math.cos(a), cy - 0.5 * d + 0.08 * d * math.sin(a))
                                for a in np.linspace(0, 2 * math.pi, 6, endpoint=False)]
    pts[48:68] = [(cx + 0.4 * d * math.cos(a), cy + 0.6 * d + 0.15 * d * math.sin(a))
                  for a in np.linspace(0, 2 * math.pi, 20, endpoint=False)]
    return pts


class _DotPhoto(ImageSource):
    """One grey photo with a white dot on each eye centre, and its 68 landmarks."""

    def __init__(self, size: tuple[int, int] = (250, 210)) -> None:
        self.W, self.H = size
        self.sizes = [(self.H, self.W)]
        self.points = _face_points(self.W * 0.55, self.H * 0.5, 50.0)

    def get(self, i: int) -> Image.Image:
        img = Image.new("RGB", (self.W, self.H), (90, 90, 90))
        draw = ImageDraw.Draw(img)
        marks = landmarks_from_68(self.points)
        for x, y in (marks.eye_a, marks.eye_b):
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(255, 255, 255))
        return img

    def landmarks(self, i: int) -> np.ndarray | None:
        return self.points

    @property
    def has_landmarks(self) -> bool:
        return True


def test_a_rendered_view_puts_a_photo_point_where_from_photo_says() -> None:
    src = _DotPhoto()
    marks = landmarks_from_68(src.points)
    params = SimilarityParams(share=1.0, eye_ratio=(0.3, 0.4), max_rotation=30.0)
    for seed in range(6):
        view = params.view(np.random.default_rng(seed), (src.W, src.H), (160, 224), marks.centre, marks.eye_distance)
        out = np.asarray(view.render(src.get(0)).convert("L"), dtype=np.float64)
        for x, y in view.from_photo(np.array([marks.eye_a, marks.eye_b])):
            ys, xs = np.nonzero(out > 170)
            near = np.hypot(xs - x, ys - y) < 8
            assert near.any(), f"seed {seed}: no dot near ({x:.1f}, {y:.1f})"
            assert np.hypot(xs[near].mean() - x, ys[near].mean() - y) < 1.5


def test_a_view_never_leaves_the_photo() -> None:
    params = SimilarityParams(share=1.0, eye_ratio=(0.05, 1.0), max_rotation=45.0, shift=0.5)
    for seed in range(200):
        rng = np.random.default_rng(seed)
        W, H = int(rng.integers(40, 400)), int(rng.integers(40, 400))
        h, w = int(rng.integers(16, 256)), int(rng.integers(16, 256))
        view = params.view(rng, (W, H), (h, w), (float(rng.uniform(0, W)), float(rng.uniform(0, H))),
                           float(rng.uniform(5, 80)))
        m = view.to_photo()
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ m.T
        assert corners[:, 0].min() >= -1e-6 and corners[:, 0].max() <= W + 1e-6
        assert corners[:, 1].min() >= -1e-6 and corners[:, 1].max() <= H + 1e-6


def test_without_the_share_a_view_is_the_largest_unturned_crop() -> None:
    view = SimilarityParams(share=0.0).view(np.random.default_rng(0), (300, 200), (100, 100), (150, 100), 40.0)
    assert view.angle == 0.0 and view.scale == pytest.approx(2.0)


def test_similarity_params_are_validated() -> None:
    with pytest.raises(ValueError):
        SimilarityParams(share=2.0)
    with pytest.raises(ValueError):
        SimilarityParams(eye_ratio=(0.5, 0.2))
    with pytest.raises(ValueError):
        SimilarityParams(max_rotation=90.0)


@pytest.mark.parametrize("kind", PART_KINDS)
def test_a_landmark_hole_hides_its_feature_whatever_its_shape(kind: str) -> None:
    pts = _face_points(100, 100, 60.0)
    params = FacePartParams(share=1.0, kinds=(kind,), weights=(1.0,), jitter=0.0)
    wanted = {"eye": None, "eyes": range(36, 48), "nose": range(27, 36), "mouth": range(48, 68),
              "inner_face": range(36, 68)}[kind]
    for seed in range(12):
        mask = landmark_part_mask(np.random.default_rng(seed), pts, 200, 200, params)
        assert 0.005 < mask.mean() < 0.6
        if wanted is None:  # one eye: all six points of one of the two eyes
            hidden = [all(mask[int(y), int(x)] for x, y in pts[r]) for r in (range(36, 42), range(42, 48))]
            assert any(hidden)
        else:
            assert all(mask[int(round(y)), int(round(x))] for x, y in pts[wanted])


def test_the_dataset_moves_the_photos_landmarks_with_its_view_and_flip() -> None:
    src = _DotPhoto()
    params = FacePartParams(share=1.0, kinds=("eyes",), weights=(1.0,), jitter=0.0)
    ds = InpaintDataset(src, seed=1, face_parts=params,
                        similarity=SimilarityParams(share=1.0, eye_ratio=(0.2, 0.4), max_rotation=20.0))
    for epoch in range(8):
        item = ds[(0, 168, 224, epoch)]
        image, mask = item["image"].numpy(), item["mask"][0].numpy() > 0.5
        dots = image.mean(0) > 0.7
        assert dots.any() and mask[dots].mean() > 0.95  # both eye dots lie inside the eyes hole


def test_concat_source_keeps_each_photos_landmarks() -> None:
    a, b = _DotPhoto((250, 210)), _DotPhoto((200, 200))
    both = ConcatSource([a, b])
    assert len(both) == 2 and both.sizes == [(210, 250), (200, 200)] and both.has_landmarks
    assert both.get(1).size == (200, 200)
    np.testing.assert_array_equal(both.landmarks(1), b.points)


def test_landmark_table_round_trips_without_pickle(tmp_path) -> None:
    table = LandmarkTable({"a/x.jpg": _face_points(50, 50, 20), "y.jpg": _face_points(80, 60, 30)})
    path = tmp_path / "landmarks.npz"
    table.save(path)
    back = LandmarkTable.load(path)
    assert len(back) == 2
    np.testing.assert_array_equal(back.get("a/x.jpg"), table.get("a/x.jpg"))
    assert back.get("missing.jpg") is None
