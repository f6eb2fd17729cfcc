"""Independent judges of a face fill: does a detector find the hidden eyes and the face again?

Hole PSNR rewards the average, and the average of many eyes is skin, so the face-part evaluation
also asks two detectors that know nothing of IN2: OpenCV's Haar cascades for frontal faces and
eyes. They find both eyes in the originals (photos where they do not are left out) and none in a
patch of smooth skin. They are judges only: never a loss, never a part of the product.

The realism score is the Frechet distance between the ImageNet EfficientNet-Lite0 pooled
features (1280-d, after the last convolution) of filled and of real faces. The perceptual loss
reads the same backbone's earlier stages (1/2 to 1/16 resolution), so a model trained with it is
pushed towards matching these features too: the score is comparable between fills, but it
flatters perceptually trained models somewhat, and it is no Inception FID.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from trainer.face_parts import Landmarks

Box = tuple[int, int, int, int]  # x, y, w, h


def _opencv():
    try:
        import cv2
    except ImportError as e:
        raise SystemExit("the face-part evaluation needs OpenCV 4: pip install 'opencv-python-headless<5'") from e
    if not hasattr(cv2, "CascadeClassifier"):
        raise SystemExit(f"OpenCV {cv2.__version__} has no CascadeClassifier (dropped in 5.x); "
                         "pip install 'opencv-python-headless<5'")
    return cv2


def _centre(box: Box) -> tuple[float, float]:
    x, y, w, h = box
    return x + w / 2, y + h / 2


def _iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


@dataclass(frozen=True)
class FaceFound:
    """A photo the judges accept: its face box and eye centres (left of the image first)."""

    face: Box
    eyes: tuple[tuple[float, float], tuple[float, float]]

    @property
    def landmarks(self) -> Landmarks:
        return Landmarks.from_eyes(*self.eyes)


class HaarJudge:
    """Face and eye detection with OpenCV's stock Haar cascades, fixed settings."""

    def __init__(self) -> None:
        cv2 = _opencv()
        self.cv2 = cv2
        root = cv2.data.haarcascades
        self.face_cascade = cv2.CascadeClassifier(root + "haarcascade_frontalface_default.xml")
        self.eye_cascade = cv2.CascadeClassifier(root + "haarcascade_eye.xml")
        if self.face_cascade.empty() or self.eye_cascade.empty():
            raise SystemExit(f"OpenCV's Haar cascades are missing from {root}; reinstall opencv-python-headless")

    def _gray(self, rgb: np.ndarray) -> np.ndarray:
        return self.cv2.equalizeHist(self.cv2.cvtColor(np.ascontiguousarray(rgb), self.cv2.COLOR_RGB2GRAY))

    def faces(self, rgb: np.ndarray) -> list[Box]:
        side = min(rgb.shape[:2])
        found = self.face_cascade.detectMultiScale(self._gray(rgb), scaleFactor=1.1, minNeighbors=5,
                                                   minSize=(side // 5, side // 5))
        return [tuple(int(v) for v in f) for f in found]

    def eyes(self, rgb: np.ndarray, face: Box) -> list[tuple[float, float]]:
        """Centres of the eyes found in the upper 60% of ``face`` (image coordinates)."""
        x, y, w, h = face
        roi = self._gray(rgb)[y: y + int(0.6 * h), x: x + w]
        found = self.eye_cascade.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=5,
                                                  minSize=(max(8, w // 8), max(8, w // 8)))
        return [(x + ex + ew / 2, y + ey + eh / 2) for ex, ey, ew, eh in found]

    def find(self, rgb: np.ndarray) -> FaceFound | None:
        """The largest face and one eye in each half of it, or None when either is missing."""
        faces = self.faces(rgb)
        if not faces:
            return None
        face = max(faces, key=lambda f: f[2] * f[3])
        mid = face[0] + face[2] / 2
        left = [e for e in self.eyes(rgb, face) if e[0] < mid]
        right = [e for e in self.eyes(rgb, face) if e[0] >= mid]
        if not left or not right:
            return None
        # the eye nearest the face's vertical middle line on each side is the eye, not a brow end
        pick = lambda side: min(side, key=lambda e: abs(abs(e[0] - mid) - face[2] * 0.2))  # noqa: E731
        return FaceFound(face, (pick(left), pick(right)))

    def eyes_found_again(self, rgb: np.ndarray, found: FaceFound, hidden: list[tuple[float, float]]) -> int:
        """How many of the ``hidden`` eye centres a detection in ``rgb`` lands near (0.3 eye distances)."""
        tolerance = 0.3 * found.landmarks.eye_distance
        seen = self.eyes(rgb, found.face)
        return sum(any(np.hypot(sx - hx, sy - hy) <= tolerance for sx, sy in seen) for hx, hy in hidden)

    def face_found_again(self, rgb: np.ndarray, found: FaceFound) -> bool:
        """Whether a face is detected in ``rgb`` where the original's face was (IoU >= 0.4)."""
        return any(_iou(f, found.face) >= 0.4 for f in self.faces(rgb))


class PooledFeatures:
    """ImageNet EfficientNet-Lite0 pooled features of [B,3,H,W] images in [0, 1], at 224 x 224."""

    def __init__(self) -> None:
        from trainer.perceptual import load_efficientnet_lite0

        self.net, _ = load_efficientnet_lite0()

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = F.interpolate(images.float().clamp(0, 1), size=(224, 224), mode="bilinear", antialias=True,
                          align_corners=False)
        return self.net.pooled(x).double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature rows ``a`` [N, D] and ``b`` [M, D].

    ``tr(sqrt(C_a C_b))`` is computed as the sum of the square roots of the eigenvalues of the
    symmetric ``sqrt(C_a) C_b sqrt(C_a)``, which stays real and stable when N < D.
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


# -- dlib judges: HOG face detector, 68 landmarks, 128-d face recognition -------------------------

SAME_PERSON = 0.6  # dlib's face-recognition threshold: descriptors closer than this are one person


@dataclass(frozen=True)
class DlibFace:
    """A photo dlib accepts: its HOG face box (left, top, right, bottom) and 68 landmarks."""

    box: tuple[int, int, int, int]
    points: np.ndarray  # [68, 2] pixels

    @property
    def landmarks(self) -> Landmarks:
        from trainer.face_parts import landmarks_from_68

        return landmarks_from_68(self.points)


class DlibJudge:
    """dlib's HOG face detector, 68-point shape predictor and face-recognition network.

    ``face_found_again`` asks whether the HOG detector still sees a face where the original's
    was; ``distance`` is the face-recognition distance between two photos of one face, both
    aligned by the ORIGINAL's landmarks, so only what the pixels show differs (a fill that
    smears the eyes cannot move the alignment). Judges only, never a loss.
    """

    def __init__(self) -> None:
        import dlib

        from trainer.landmarks import LandmarkFinder, dlib_model_dir

        self.dlib = dlib
        self.finder = LandmarkFinder()
        self.recogniser = dlib.face_recognition_model_v1(
            str(dlib_model_dir() / "dlib_face_recognition_resnet_model_v1.dat"))

    def find(self, rgb: np.ndarray) -> DlibFace | None:
        faces = self.finder.faces(rgb) or self.finder.faces(rgb, 1)
        if not faces:
            return None
        r = faces[0]
        shape = self.finder.predictor(np.ascontiguousarray(rgb), r)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        return DlibFace((r.left(), r.top(), r.right(), r.bottom()), pts)

    def face_found_again(self, rgb: np.ndarray, found: DlibFace) -> bool:
        """Whether the HOG detector finds a face in ``rgb`` overlapping the original's (IoU >= 0.4)."""
        left, top, right, bottom = found.box
        ref = (left, top, right - left, bottom - top)
        for up in (0, 1):
            for f in self.finder.faces(rgb, up):
                if _iou((f.left(), f.top(), f.width(), f.height()), ref) >= 0.4:
                    return True
        return False

    def descriptor(self, rgb: np.ndarray, found: DlibFace) -> np.ndarray:
        """The 128-d face descriptor of ``rgb``, aligned by ``found``'s landmarks."""
        left, top, right, bottom = found.box
        parts = [self.dlib.point(int(round(x)), int(round(y))) for x, y in found.points]
        shape = self.dlib.full_object_detection(self.dlib.rectangle(left, top, right, bottom), parts)
        return np.asarray(self.recogniser.compute_face_descriptor(np.ascontiguousarray(rgb), shape))


def detail(rgb: np.ndarray, region: np.ndarray) -> float:
    """Fine detail inside ``region``: the standard deviation of the grey Laplacian there."""
    cv2 = _opencv()
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=1)
    return float(lap[region].std()) if region.any() else 0.0


def seamless_region(hole: np.ndarray, seam: int = 3) -> np.ndarray:
    """The hole less a ``seam``-pixel band along its edge, where every fill meets the photo."""
    cv2 = _opencv()
    kernel = np.ones((2 * seam + 1, 2 * seam + 1), np.uint8)
    return cv2.erode(hole.astype(np.uint8), kernel) > 0
