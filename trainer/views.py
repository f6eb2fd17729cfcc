"""Random similarity views: where a training sample looks into its photo (scale, rotation, shift).

An aligned face set puts every eye at one place and one scale, and a model trained on it learns
where eyes go rather than what an eye looks like. A view is a rotated rectangle of the sample's
aspect inside the photo: its side is a random share of the largest such crop, it is turned by a
random angle, and its centre lies near the face. Rendering it is one affine resample, and the
photo's landmarks move with the same map, so face-part holes stay on the features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class View:
    """Output pixel ``q`` (``width x height``) shows photo point ``centre + R(angle) * scale * (q - q0)``."""

    centre: tuple[float, float]
    angle: float  # radians, counter-clockwise in image coordinates
    scale: float  # photo pixels per output pixel
    width: int
    height: int

    def to_photo(self) -> np.ndarray:
        """The 2x3 matrix taking output pixel centres to photo coordinates."""
        c, s = math.cos(self.angle) * self.scale, math.sin(self.angle) * self.scale
        q0x, q0y = self.width / 2, self.height / 2
        cx, cy = self.centre
        return np.array([[c, -s, cx - c * q0x + s * q0y], [s, c, cy - s * q0x - c * q0y]])

    def from_photo(self, points: np.ndarray) -> np.ndarray:
        """Photo points ``N x 2`` in output pixel coordinates."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        rel = (np.asarray(points, dtype=np.float64) - self.centre) / self.scale
        x = c * rel[:, 0] + s * rel[:, 1] + self.width / 2
        y = -s * rel[:, 0] + c * rel[:, 1] + self.height / 2
        return np.stack([x, y], 1)

    def render(self, img: Image.Image) -> Image.Image:
        """The view as an RGB image; a photo more than 1.25x larger is first shrunk (antialiased)."""
        view, src = self, img
        if self.scale > 1.25:
            k = self.scale
            small = (max(1, round(img.width / k)), max(1, round(img.height / k)))
            src = img.resize(small, Image.BICUBIC)
            fx, fy = small[0] / img.width, small[1] / img.height
            view = View((self.centre[0] * fx, self.centre[1] * fy), self.angle, self.scale * (fx + fy) / 2,
                        self.width, self.height)
        m = view.to_photo()
        # PIL samples output pixel (x, y) at its centre (x + 0.5, y + 0.5) and expects the same map
        return src.transform((self.width, self.height), Image.AFFINE, tuple(m.ravel()), resample=Image.BICUBIC)


@dataclass(frozen=True)
class SimilarityParams:
    """``share`` of the samples get a random view: scaled so that the eye distance is a random
    ``eye_ratio`` share of the sample's shorter side (a tight crop that already shows the face
    that large stays whole: a view never leaves the photo), turned by up to ``max_rotation``
    degrees, centred on the face moved by up to ``shift`` of the view's side. The rest get the
    largest crop of the sample's aspect at a random place, unturned."""

    share: float = 0.0
    eye_ratio: tuple[float, float] = (0.15, 0.42)
    max_rotation: float = 15.0
    shift: float = 0.15

    def __post_init__(self) -> None:
        lo, hi = self.eye_ratio
        if not 0.0 <= self.share <= 1.0 or not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"data.similarity needs share in [0, 1] and 0 < eye_ratio[0] <= eye_ratio[1] <= 1, "
                             f"got {self}")
        if not 0.0 <= self.max_rotation <= 45.0 or not 0.0 <= self.shift <= 0.5:
            raise ValueError(f"data.similarity needs max_rotation in [0, 45] and shift in [0, 0.5], got {self}")

    def view(self, rng: np.random.Generator, photo_wh: tuple[int, int], out_hw: tuple[int, int],
             face_centre: tuple[float, float], eye_distance: float) -> View:
        """One random view of a ``photo_wh`` photo for an ``out_hw`` sample, kept inside the photo."""
        W, H = photo_wh
        h, w = out_hw
        full = min(W / w, H / h)  # photo pixels per output pixel of the largest crop of this aspect
        if rng.random() < self.share:
            ratio = float(rng.uniform(*self.eye_ratio))
            side = min(1.0, eye_distance / (ratio * min(h, w)) / full)
            angle = math.radians(float(rng.uniform(-self.max_rotation, self.max_rotation)))
            jx, jy = rng.uniform(-self.shift, self.shift, size=2)
            centre = (face_centre[0] + jx * side * full * w, face_centre[1] + jy * side * full * h)
        else:
            side, angle = 1.0, 0.0
            t = float(rng.random())
            centre = (W / 2 + (t - 0.5) * (W - full * w), H / 2 + (t - 0.5) * (H - full * h))
        scale = side * full
        cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
        half_x = (w * cos + h * sin) * scale / 2
        half_y = (w * sin + h * cos) * scale / 2
        shrink = min(1.0, W / 2 / half_x, H / 2 / half_y)  # a turned view must still fit the photo
        scale, half_x, half_y = scale * shrink, half_x * shrink, half_y * shrink
        cx = min(max(centre[0], half_x), W - half_x)
        cy = min(max(centre[1], half_y), H - half_y)
        return View((cx, cy), angle, scale, w, h)
