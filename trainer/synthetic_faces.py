"""Procedural synthetic faces: the default data when no face dataset is at hand.

Real face datasets cannot be fetched everywhere (CI, air-gapped machines), yet an inpainting
model must be trained on *position-sensitive* structure to show what IN2 is about: two eyes
at mirrored places, a nose between them, a mouth below. These drawings have exactly that,
with enough variation (skin tones, hair, backgrounds, lighting, small pose, scale and
position changes) that a model cannot memorise one image. Every face is a pure function of
its seed and size, so datasets are reproducible without storing files.

Command line: ``python trainer/synthetic_faces.py --out DIR -n 100 --size 512x512``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Skin tones from very light to very dark (sRGB), hair colours, iris colours.
SKIN_TONES = [
    (255, 224, 196), (241, 194, 167), (224, 172, 138), (198, 134, 96),
    (171, 110, 74), (141, 85, 54), (105, 62, 40), (74, 44, 29),
]
HAIR_COLOURS = [
    (20, 16, 14), (50, 34, 24), (92, 60, 36), (140, 98, 56),
    (196, 160, 100), (170, 70, 40), (120, 120, 120), (225, 220, 210),
]
IRIS_COLOURS = [(70, 45, 25), (40, 90, 140), (60, 110, 60), (100, 80, 50), (30, 30, 30)]


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    c = np.asarray(colour, dtype=np.float64) + rng.normal(0.0, amount, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, v * factor))) for v in colour)


def _ellipse(draw: ImageDraw.ImageDraw, cx: float, cy: float, rx: float, ry: float, fill) -> None:
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fill)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Two-colour gradient plus a few soft blobs: varied, but clearly not a face."""
    c0 = rng.uniform(20, 235, 3)
    c1 = rng.uniform(20, 235, 3)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (np.cos(angle) * xx / max(width, 1) + np.sin(angle) * yy / max(height, 1))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    for _ in range(int(rng.integers(0, 4))):
        bx, by = rng.uniform(0, width), rng.uniform(0, height)
        br = rng.uniform(0.1, 0.4) * max(height, width)
        colour = rng.uniform(20, 235, 3)
        w = np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * br * br))[..., None] * rng.uniform(0.2, 0.6)
        img = img * (1 - w) + colour[None, None, :] * w
    return img.astype(np.float32)


def render_face(seed: int, height: int = 512, width: int = 512) -> np.ndarray:
    """Draw one face; returns an ``H x W x 3`` uint8 array, identical for equal arguments.

    The face is laid out relative to the shorter side and centred, like an aligned portrait
    crop (CelebA-HQ, FFHQ), with a small random shift, scale, tilt and yaw.
    """
    if height < 1 or width < 1:
        raise ValueError(f"face size must be positive, got {width}x{height}")
    rng = np.random.default_rng(seed)
    # Work at 2x and downsample once: cheap anti-aliasing for the PIL shapes.
    ss = 2
    H, W = height * ss, width * ss
    side = min(H, W)

    cx = W / 2 + rng.uniform(-0.05, 0.05) * side
    cy = H / 2 + rng.uniform(-0.03, 0.06) * side
    ry = side * rng.uniform(0.27, 0.33)  # half-height of the face oval
    rx = ry * rng.uniform(0.70, 0.82)
    yaw = rng.uniform(-0.12, 0.12)  # shifts inner features sideways
    tilt = rng.uniform(-8, 8)  # degrees

    skin = _jitter(rng, SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], 8)
    hair = _jitter(rng, HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))], 10)
    iris = _jitter(rng, IRIS_COLOURS[int(rng.integers(len(IRIS_COLOURS)))], 10)
    lips = _jitter(rng, (int(skin[0] * 0.8 + 40), int(skin[1] * 0.5), int(skin[2] * 0.5)), 8)
    clothes = tuple(int(v) for v in rng.uniform(10, 245, 3))

    layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    _draw_head(d, rng, cx, cy, rx, ry, skin, hair, clothes)
    fx = cx + yaw * rx  # centre line of the inner features
    eye_y, eye_ry = _draw_eyes(d, rng, fx, cy, rx, ry, skin, hair, iris)
    _draw_nose_and_mouth(d, rng, fx, cy, rx, ry, eye_y, eye_ry, skin, lips)

    layer = layer.rotate(tilt, resample=Image.BICUBIC, center=(cx, cy))
    layer = layer.resize((width, height), Image.LANCZOS)

    canvas = _background(rng, height, width)
    rgba = np.asarray(layer, dtype=np.float32)
    alpha = rgba[..., 3:4] / 255.0
    return _texture_and_light(rng, canvas * (1 - alpha) + rgba[..., :3] * alpha)


Colour = tuple[int, int, int]


def _draw_head(
    d: ImageDraw.ImageDraw, rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float,
    skin: Colour, hair: Colour, clothes: tuple[int, ...],
) -> None:
    """Shoulders, neck, hair, ears, the face oval and a fringe (in drawing order, back to front)."""
    # Shoulders and neck sit below the face and may leave the frame.
    _ellipse(d, cx, cy + ry * 2.1, rx * 2.3, ry * 0.9, clothes + (255,))
    d.rectangle([cx - rx * 0.42, cy + ry * 0.5, cx + rx * 0.42, cy + ry * 1.35], fill=_shade(skin, 0.85) + (255,))

    # Hair behind the head (long or short).
    hair_long = rng.random() < 0.5
    hair_ry = ry * (1.45 if hair_long else 1.12)
    _ellipse(d, cx, cy - ry * 0.12 + (hair_ry - ry * 1.12) * 0.6, rx * 1.22, hair_ry, hair + (255,))

    # Ears at eye height.
    if rng.random() < 0.8:
        for sgn in (-1, 1):
            _ellipse(d, cx + sgn * rx * 0.98, cy - ry * 0.02, rx * 0.14, ry * 0.2, _shade(skin, 0.92) + (255,))

    # Face oval and a fringe of hair over the forehead.
    _ellipse(d, cx, cy, rx, ry, skin + (255,))
    fringe = rng.uniform(0.45, 0.75)
    d.chord([cx - rx * 1.05, cy - ry * 1.12, cx + rx * 1.05, cy - ry * (1.12 - 2 * fringe * 0.55)],
            start=180, end=360, fill=hair + (255,))


def _draw_eyes(
    d: ImageDraw.ImageDraw, rng: np.random.Generator, fx: float, cy: float, rx: float, ry: float,
    skin: Colour, hair: Colour, iris: Colour,
) -> tuple[float, float]:
    """Both eyes with lids and brows around the centre line ``fx``; returns the eyes' height and half-height."""
    eye_y = cy - ry * rng.uniform(0.02, 0.12)
    eye_dx = rx * rng.uniform(0.36, 0.44)
    eye_rx = rx * rng.uniform(0.17, 0.22)
    eye_ry = eye_rx * rng.uniform(0.45, 0.65)
    gaze = rng.uniform(-0.3, 0.3, 2)
    brow_colour = _shade(hair, 0.8) + (255,)
    brow_w = max(2.0, ry * rng.uniform(0.035, 0.06))
    for sgn in (-1, 1):
        ex = fx + sgn * eye_dx
        _ellipse(d, ex, eye_y, eye_rx, eye_ry, (245, 245, 240, 255))
        ir = eye_ry * 0.95
        ix, iy = ex + gaze[0] * eye_rx * 0.4, eye_y + gaze[1] * eye_ry * 0.3
        _ellipse(d, ix, iy, ir, ir, iris + (255,))
        _ellipse(d, ix, iy, ir * 0.45, ir * 0.45, (10, 10, 10, 255))
        _ellipse(d, ix + ir * 0.3, iy - ir * 0.3, ir * 0.15, ir * 0.15, (255, 255, 255, 255))  # catch light
        # Upper lid line.
        d.arc([ex - eye_rx, eye_y - eye_ry, ex + eye_rx, eye_y + eye_ry], 190, 350,
              fill=_shade(skin, 0.45) + (255,), width=int(max(2, eye_ry * 0.25)))
        # Brow: a short slanted thick line.
        by = eye_y - eye_ry * rng.uniform(1.9, 2.5)
        d.line([(ex - sgn * eye_rx * 1.1, by + eye_ry * 0.2), (ex + sgn * eye_rx * 1.1, by - eye_ry * 0.3)],
               fill=brow_colour, width=int(brow_w * 2), joint="curve")
    return eye_y, eye_ry


def _draw_nose_and_mouth(
    d: ImageDraw.ImageDraw, rng: np.random.Generator, fx: float, cy: float, rx: float, ry: float, eye_y: float,
    eye_ry: float, skin: Colour, lips: Colour,
) -> None:
    """A shaded nose wedge with nostrils under the eyes, and the lips with a (sometimes smiling) line."""
    # Nose: a shaded wedge and nostrils.
    nose_y = cy + ry * rng.uniform(0.22, 0.32)
    nose_w = rx * rng.uniform(0.14, 0.2)
    d.polygon([(fx, eye_y + eye_ry), (fx - nose_w, nose_y), (fx + nose_w, nose_y)], fill=_shade(skin, 0.88) + (255,))
    for sgn in (-1, 1):
        _ellipse(d, fx + sgn * nose_w * 0.55, nose_y, nose_w * 0.28, nose_w * 0.18, _shade(skin, 0.55) + (255,))

    # Mouth: lips ellipse with a dark line; sometimes a smile.
    mouth_y = cy + ry * rng.uniform(0.52, 0.62)
    mouth_w = rx * rng.uniform(0.3, 0.42)
    mouth_h = mouth_w * rng.uniform(0.22, 0.4)
    _ellipse(d, fx, mouth_y, mouth_w, mouth_h, lips + (255,))
    smile = rng.uniform(-0.2, 0.6) * mouth_h
    d.line([(fx - mouth_w, mouth_y - smile * 0.5), (fx, mouth_y + smile * 0.3), (fx + mouth_w, mouth_y - smile * 0.5)],
           fill=_shade(lips, 0.45) + (255,), width=int(max(2, mouth_h * 0.25)), joint="curve")


def _texture_and_light(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Soft skin texture, then directional lighting over the whole picture; rounded to uint8."""
    height, width = img.shape[:2]
    noise = np.asarray(
        Image.fromarray((rng.normal(128, 30, (max(height // 4, 1), max(width // 4, 1)))).clip(0, 255).astype(np.uint8))
        .resize((width, height), Image.BICUBIC)
        .filter(ImageFilter.GaussianBlur(1)),
        dtype=np.float32,
    )
    img = img + (noise[..., None] - 128.0) * 0.06
    angle = rng.uniform(0, 2 * math.pi)
    strength = rng.uniform(0.05, 0.25)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = np.cos(angle) * (xx / max(width, 1) - 0.5) + np.sin(angle) * (yy / max(height, 1) - 0.5)
    img = img * (1.0 + strength * t)[..., None] * rng.uniform(0.85, 1.1)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)




def write_faces(out: Path, count: int, height: int, width: int, seed: int = 0) -> list[Path]:
    """Write ``count`` faces as PNG files ``face_00000.png`` ...; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = out / f"face_{i:05d}.png"
        Image.fromarray(render_face(seed + i, height, width)).save(path)
        paths.append(path)
    return paths


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (or a single number for a square) into ``(H, W)``."""
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) == 1:
        return int(parts[0]), int(parts[0])
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"size must look like 512x384 (width x height), got {text!r}")
    return int(parts[1]), int(parts[0])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Write procedural synthetic face images to a folder.")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("-n", "--count", type=int, default=100)
    p.add_argument("--size", type=parse_size, default=(512, 512), help="WxH, e.g. 512x384")
    p.add_argument("--seed", type=int, default=0, help="seed of the first face; face i uses seed+i")
    args = p.parse_args(argv)
    paths = write_faces(args.out, args.count, args.size[0], args.size[1], args.seed)
    print(f"wrote {len(paths)} faces of {args.size[1]}x{args.size[0]} to {args.out}")


if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "synthetic_faces"))
