"""Face-part holes: masks that hide a whole eye, both eyes, the nose, the mouth or the inner face.

Brush strokes rarely cover a whole feature, so a model trained on them alone learns to carry skin
inward and never has to draw an eye. These masks make it draw one. Every shape is placed from
three landmarks (the two eye centres and the mouth centre) and sized by the distance between the
eyes, so one set of proportions serves any crop, scale or aspect ratio.

Training images of an aligned face set (LFW deep-funneled, CelebA-HQ) hold their features near
fixed places, so the trainer takes the landmarks from the data set's mean face
(``LFW_LANDMARKS``), moves them with every crop, resize and flip, and jitters each shape. The
evaluation places the same shapes from landmarks found in each photo (``trainer/eval/face_judge.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

PART_KINDS: tuple[str, ...] = ("eyes", "eye", "nose", "mouth", "inner_face")

# Eye centres and mouth centre of the LFW deep-funneled mean face, as fractions of the photo
# (measured on the mean of 1,000 photos, 250 x 250: eyes at (103, 112) and (146, 112) px, mouth
# at (125, 160) px).
LFW_LANDMARKS: tuple[tuple[float, float], ...] = ((0.412, 0.448), (0.584, 0.448), (0.5, 0.64))


@dataclass(frozen=True)
class Landmarks:
    """Pixel positions ``(x, y)`` of the two eyes (either order) and the mouth centre."""

    eye_a: tuple[float, float]
    eye_b: tuple[float, float]
    mouth: tuple[float, float]

    @classmethod
    def from_fractions(cls, fractions, width: int, height: int) -> Landmarks:
        (ax, ay), (bx, by), (mx, my) = fractions
        return cls((ax * width, ay * height), (bx * width, by * height), (mx * width, my * height))

    @classmethod
    def from_eyes(cls, eye_a: tuple[float, float], eye_b: tuple[float, float]) -> Landmarks:
        """Landmarks of a roughly upright face from its eyes: the mouth sits 1.12 eye distances
        below the eyes' midpoint, as in the mean face."""
        mid_x, mid_y = (eye_a[0] + eye_b[0]) / 2, (eye_a[1] + eye_b[1]) / 2
        return cls(eye_a, eye_b, (mid_x, mid_y + 1.12 * math.dist(eye_a, eye_b)))

    @property
    def centre(self) -> tuple[float, float]:
        """The mean of the three landmarks: where a zoom keeps the face."""
        points = (self.eye_a, self.eye_b, self.mouth)
        return sum(p[0] for p in points) / 3, sum(p[1] for p in points) / 3

    @property
    def eye_distance(self) -> float:
        return max(1.0, math.dist(self.eye_a, self.eye_b))

    def map(self, fx, fy) -> Landmarks:
        """The landmarks after a change of coordinates ``x -> fx(x)``, ``y -> fy(y)``."""
        return Landmarks(*[(fx(x), fy(y)) for x, y in (self.eye_a, self.eye_b, self.mouth)])


def part_shapes(kind: str, marks: Landmarks, scale: float = 1.0,
                eye_index: int = 0) -> list[tuple[str, tuple[float, float, float, float]]]:
    """The filled shapes of one part as ``(ellipse | box, (x0, y0, x1, y1))`` in pixels.

    Sizes are fractions of the eye distance ``d``: an eye hole is 0.95 d x 0.75 d (the eye,
    its lids and the lower brow), the eyes bar runs 0.6 d past each eye and is 0.8 d high, the
    nose 0.7 d x 0.95 d, the mouth 1.3 d x 0.65 d, and the inner face an ellipse from the brows
    to below the lips.
    """
    d = marks.eye_distance * scale
    (ax, ay), (bx, by), (mx, my) = marks.eye_a, marks.eye_b, marks.mouth
    mid_x, mid_y = (ax + bx) / 2, (ay + by) / 2

    def around(cx: float, cy: float, w: float, h: float) -> tuple[float, float, float, float]:
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    if kind == "eye":
        cx, cy = (marks.eye_a, marks.eye_b)[eye_index % 2]
        return [("ellipse", around(cx, cy, 0.95 * d, 0.75 * d))]
    if kind == "eyes":
        left, right = min(ax, bx) - 0.6 * d, max(ax, bx) + 0.6 * d
        return [("box", (left, mid_y - 0.4 * d, right, mid_y + 0.4 * d))]
    nose_x, nose_y = (mid_x + mx) / 2, mid_y + 0.55 * (my - mid_y)
    if kind == "nose":
        return [("ellipse", around(nose_x, nose_y, 0.7 * d, 0.95 * d))]
    if kind == "mouth":
        return [("ellipse", around(mx, my, 1.3 * d, 0.65 * d))]
    if kind == "inner_face":
        top, bottom = mid_y - 0.55 * d, my + 0.45 * d
        return [("ellipse", (mid_x - 1.05 * d, top, mid_x + 1.05 * d, bottom))]
    raise ValueError(f"unknown face part {kind!r}; choose from {', '.join(PART_KINDS)}")


def draw_part(kind: str, marks: Landmarks, height: int, width: int, scale: float = 1.0,
              eye_index: int = 0) -> np.ndarray:
    """A bool ``H x W`` mask (True = hole) hiding one face part."""
    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    for shape, box in part_shapes(kind, marks, scale, eye_index):
        if shape == "ellipse":
            draw.ellipse(box, fill=255)
        else:
            draw.rounded_rectangle(box, radius=min(box[2] - box[0], box[3] - box[1]) / 3, fill=255)
    return np.asarray(img) > 127


@dataclass(frozen=True)
class FacePartParams:
    """How often a training sample gets a face-part hole instead of brush strokes, and how the
    parts are drawn: ``share`` of the samples, kinds drawn with ``weights``, each landmark moved
    by up to ``jitter`` eye distances and each shape scaled by a factor in ``scale``."""

    share: float = 0.0
    kinds: tuple[str, ...] = PART_KINDS
    weights: tuple[float, ...] = (0.3, 0.3, 0.1, 0.15, 0.15)
    landmarks: tuple[tuple[float, float], ...] = LFW_LANDMARKS
    jitter: float = 0.08
    scale: tuple[float, float] = (0.9, 1.2)

    @classmethod
    def from_dict(cls, d: dict | None) -> FacePartParams:
        d = dict(d or {})
        for key in ("kinds", "weights", "scale"):
            if key in d:
                d[key] = tuple(d[key])
        if "landmarks" in d:
            d["landmarks"] = tuple(tuple(float(v) for v in p) for p in d["landmarks"])
        return cls(**d)

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"face_parts.share must lie in [0, 1], got {self.share}")
        unknown = set(self.kinds) - set(PART_KINDS)
        if unknown:
            raise ValueError(f"unknown face parts {sorted(unknown)}; choose from {', '.join(PART_KINDS)}")
        if len(self.weights) != len(self.kinds) or min(self.weights, default=0) < 0 or sum(self.weights) <= 0:
            raise ValueError("face_parts.weights needs one non-negative weight per kind, not all zero")
        if len(self.landmarks) != 3:
            raise ValueError("face_parts.landmarks holds three (x, y) fractions: two eyes, then the mouth")


def random_part_mask(rng: np.random.Generator, marks: Landmarks, height: int, width: int,
                     params: FacePartParams) -> np.ndarray:
    """One jittered face-part hole for a training sample whose landmarks are ``marks``."""
    p = np.asarray(params.weights, dtype=np.float64)
    kind = params.kinds[int(rng.choice(len(params.kinds), p=p / p.sum()))]
    d = marks.eye_distance
    shift = lambda: float(rng.uniform(-params.jitter, params.jitter)) * d  # noqa: E731 - one draw per use
    jittered = Landmarks(*[(x + shift(), y + shift()) for x, y in (marks.eye_a, marks.eye_b, marks.mouth)])
    scale = float(rng.uniform(*params.scale))
    return draw_part(kind, jittered, height, width, scale, eye_index=int(rng.integers(2)))


# -- holes from a photo's own 68 landmarks (trainer/landmarks.py) ---------------------------------

# The landmarks each part hides (iBUG 300-W order); one eye is either side, its brow optional.
PART_POINTS: dict[str, tuple[range, ...]] = {
    "eye": (range(36, 42),),
    "eyes": (range(17, 27), range(36, 48)),
    "nose": (range(27, 36),),
    "mouth": (range(48, 68),),
    "inner_face": (range(17, 68),),
}
_OTHER_EYE, _BROWS = (range(42, 48),), (range(17, 22), range(22, 27))


def landmarks_from_68(points: np.ndarray) -> Landmarks:
    """The three-point ``Landmarks`` (eye centres, mouth centre) of 68 landmarks."""
    return Landmarks(tuple(points[36:42].mean(0)), tuple(points[42:48].mean(0)), tuple(points[48:68].mean(0)))


def _part_points(kind: str, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if kind == "eye":
        side = int(rng.integers(2))
        ranges = (PART_POINTS["eye"], _OTHER_EYE)[side]
        if rng.random() < 0.5:  # the brow above it too
            ranges = ranges + (_BROWS[side],)
    else:
        ranges = PART_POINTS[kind]
    return points[np.concatenate([np.asarray(r) for r in ranges])]


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (monotone chain), counter-clockwise, of ``N x 2`` points."""
    pts = sorted(map(tuple, points.tolist()))
    if len(pts) < 3:
        return np.asarray(pts, dtype=np.float64)

    def half(seq):
        out: list = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return np.asarray(half(pts) + half(reversed(pts)), dtype=np.float64)


def _outline(kind: str, pts: np.ndarray, d: float, rng: np.random.Generator) -> np.ndarray:
    """A closed outline around ``pts``: their hull, a rotated ellipse or a wobbly blob, grown
    by a random margin of the eye distance ``d`` so the whole feature and its edges are hidden."""
    centre = pts.mean(0)
    margin = float(rng.uniform(0.12, 0.35)) * d
    style = rng.choice(3, p=(0.4, 0.35, 0.25))
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if style == 1:  # ellipse along the points' principal axes
        cov = np.cov((pts - centre).T) + 1e-6 * np.eye(2)
        vals, vecs = np.linalg.eigh(cov)
        radii = 1.8 * np.sqrt(vals)
        local = (pts - centre) @ vecs  # every point inside before the margin is added
        radii = radii * max(1.0, float(np.sqrt(((local / radii) ** 2).sum(1).max()))) + margin
        circle = np.stack([np.cos(angles) * radii[0], np.sin(angles) * radii[1]], 1)
        return centre + circle @ vecs.T
    hull = _hull(pts)
    # grow every hull vertex away from the centre by the margin
    rel = hull - centre
    norm = np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-6)
    grown = centre + rel * (1 + margin / norm)
    if style == 0:
        return grown
    # blob: a radial outline through the grown hull with smooth random wobble
    ang = np.arctan2(*(grown - centre).T[::-1])
    rad = np.linalg.norm(grown - centre, axis=1)
    order = np.argsort(ang)
    r = np.interp(angles, ang[order], rad[order], period=2 * np.pi)
    # the wobble only pushes outwards, so the blob never uncovers what the grown hull hides
    wobble = sum(float(rng.uniform(0, 0.12)) * (1 + np.cos(k * angles + float(rng.uniform(0, 2 * np.pi)))) / 2
                 for k in (2, 3, 5))
    r = r * (1 + wobble)
    return centre + np.stack([np.cos(angles) * r, np.sin(angles) * r], 1)


def landmark_part_mask(rng: np.random.Generator, points: np.ndarray, height: int, width: int,
                       params: FacePartParams) -> np.ndarray:
    """One face-part hole placed from a photo's own 68 landmarks (already in sample pixels).

    Unlike ``random_part_mask`` it follows any tilt, scale and place of the face, and its shape
    varies (hull, ellipse or blob, random margin), so no hidden feature has a fixed place or form.
    """
    p = np.asarray(params.weights, dtype=np.float64)
    kind = params.kinds[int(rng.choice(len(params.kinds), p=p / p.sum()))]
    d = landmarks_from_68(points).eye_distance
    pts = _part_points(kind, points, rng) + rng.uniform(-params.jitter, params.jitter, size=2) * d
    outline = _outline(kind, pts, d, rng)
    img = Image.new("L", (width, height), 0)
    ImageDraw.Draw(img).polygon([tuple(map(float, q)) for q in outline], fill=255)
    return np.asarray(img) > 127
