"""The demo in a real browser: upload, paint a stroke, press Fill, read the result back.

Drives Debian's Chromium (/usr/bin/chromium) through Playwright's Python API; Playwright's
own browser downloads are never used. Skips only when one of the two is missing.

Run by hand to refresh the screenshot in the docs (bundled demo weights, first example):

    python tests/test_browser.py docs/demo_screenshot.png [--weights DIR_OR_REPO]
"""

from __future__ import annotations

import io
import itertools
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # gradio_app.py is a script at the root

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
W, H = 601, 517
RESULT_READY = (
    "() => { const i = document.querySelector('#result img'); return !!i && i.src.includes('/gradio_api/file='); }"
)

try:
    from playwright.sync_api import Page, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is missing: pip install playwright"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


EDITOR_HAS_IMAGE = "() => !document.querySelector('#editor').innerText.includes('Upload an image')"


def upload_photo(page: Page, path: Path) -> None:
    """Put a photo in the editor; a page still wiring up its components can miss the first
    try, so try again rather than wait forever."""
    for _ in range(3):
        page.set_input_files("#editor input[type=file]", str(path))
        try:
            page.wait_for_function(EDITOR_HAS_IMAGE, timeout=20_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the editor did not take {path.name}")


def image_to_screen(page: Page, width: int, height: int) -> Callable[[float, float], tuple[float, float]]:
    """Map image pixels to page coordinates: the editor centres the image in its canvas and
    shows its zoom as a percentage in the toolbar. The editor fits a new image in a few
    steps, so wait until zoom and canvas stay put for a second."""
    page.wait_for_function(EDITOR_HAS_IMAGE)  # the empty editor shows a zoom of its own
    page.wait_for_function("() => /\\d+%/.test(document.querySelector('#editor').innerText)")

    def view() -> tuple[int, dict]:
        zoom = int(re.search(r"(\d+)%", page.inner_text("#editor")).group(1))
        return zoom, page.locator("#editor canvas").first.bounding_box()

    last, stable_since = view(), time.monotonic()
    deadline = stable_since + 30
    while time.monotonic() - stable_since < 1.0 and time.monotonic() < deadline:
        time.sleep(0.2)
        now = view()
        if now != last:
            last, stable_since = now, time.monotonic()
    zoom, box = last[0] / 100, last[1]
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return lambda u, v: (cx + (u - width / 2) * zoom, cy + (v - height / 2) * zoom)


def distance_to_polyline(points: list[tuple[float, float]], height: int, width: int) -> np.ndarray:
    """Distance of every pixel centre to a polyline, in pixels."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    best = np.full((height, width), np.inf)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        best = np.minimum(best, np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy)))
    return best


def fetch_result(page: Page) -> Any:
    from PIL import Image

    src = page.get_attribute("#result img", "src")
    assert src and src.split("?")[0].endswith(".png"), f"result is not served as PNG: {src}"
    return Image.open(io.BytesIO(page.request.get(src).body()))


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    import gradio_app
    from in2 import IN2, IN2Config, InpaintPipeline

    weights = tmp_path_factory.mktemp("tiny_weights")
    IN2(IN2Config.tiny()).save_pretrained(weights)
    demo = gradio_app.build_demo(InpaintPipeline.from_pretrained(str(weights), device="cpu"))
    gradio_app.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()


@pytest.fixture
def page(app_url: str):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(app_url)
        page.wait_for_selector("#editor")
        yield page
        browser.close()


def paint(
    page: Page, to_screen: Callable[[float, float], tuple[float, float]], stroke: list[tuple[float, float]]
) -> None:
    """One brush stroke through ``stroke`` (image pixels)."""
    page.get_by_role("button", name="Brush", exact=True).click()
    page.mouse.move(*to_screen(*stroke[0]))
    page.mouse.down()
    for point in stroke[1:]:
        page.mouse.move(*to_screen(*point), steps=2)
    page.mouse.up()


def test_paint_fill_and_read_back(page: Page, tmp_path: Path):
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    upload = tmp_path / "photo.png"
    Image.fromarray(pixels).save(upload)
    upload_photo(page, upload)
    to_screen = image_to_screen(page, W, H)

    stroke = [(150.0 + 30 * i, 200.0 + 6 * i) for i in range(11)]  # image pixels
    paint(page, to_screen, stroke)

    page.click("#run-btn")
    page.wait_for_function(RESULT_READY, timeout=120_000)
    page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)

    result = fetch_result(page)
    assert result.size == (W, H), "the result must have the upload's exact size"
    out = np.asarray(result.convert("RGB"))
    changed = (out != pixels).any(axis=-1)
    distance = distance_to_polyline(stroke, H, W)
    # The brush is round with an antialiased rim, and page-to-image mapping is good to a few
    # pixels; 60 px is far beyond both, so nothing there may change.
    assert not changed[distance > 60].any(), "pixels far from the stroke changed"
    assert changed[distance < 4].mean() > 0.99, "the stroke was not filled along its whole length"
    assert "Done in" in page.inner_text("#status")


def test_the_result_as_the_new_photo_fills_again_where_the_next_stroke_goes(page: Page, tmp_path: Path):
    from PIL import Image

    pixels = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    upload_photo(page, tmp_path / "photo.png")
    first_stroke = [(100.0 + 30 * i, 120.0) for i in range(8)]
    paint(page, image_to_screen(page, W, H), first_stroke)
    page.click("#run-btn")
    page.wait_for_function(RESULT_READY, timeout=120_000)
    first_src = page.get_attribute("#result img", "src")
    first = np.asarray(fetch_result(page).convert("RGB"))

    page.click("#reuse-btn")
    page.wait_for_function(EDITOR_HAS_IMAGE)
    second_stroke = [(120.0 + 30 * i, 400.0) for i in range(8)]
    new_result = (
        f"() => {{ const i = document.querySelector('#result img'); return !!i && i.src !== {first_src!r} "
        "&& i.src.includes('/gradio_api/file='); }"
    )
    # The editor loads the result (and its empty layer) as its new value after the click; on
    # a loaded machine that can land after a stroke and wipe it. The page then says nothing
    # is painted and loses nothing, and a user paints again: so does this test, up to 3 times.
    nothing_painted = (
        "() => [...document.querySelectorAll('.toast-body')].some(t => t.innerText.includes('Nothing is painted'))"
    )
    for _ in range(3):
        time.sleep(4)
        for close in page.locator(".toast-close").all():  # the last try's message, if any
            close.click()
        paint(page, image_to_screen(page, W, H), second_stroke)
        page.click("#run-btn")
        try:
            page.wait_for_function(f"() => ({new_result})() || ({nothing_painted})()", timeout=120_000)
        except PlaywrightTimeout:
            break
        if page.evaluate(new_result):
            break
    if not page.evaluate(new_result):
        raise AssertionError(
            f"no second result: {page.inner_text('#status')!r} {page.locator('.toast-body').all_inner_texts()}"
        )
    second = np.asarray(fetch_result(page).convert("RGB"))
    assert second.shape == first.shape
    changed = (second != first).any(axis=-1)
    distance = distance_to_polyline(second_stroke, H, W)
    assert changed[distance < 4].mean() > 0.99, "the second stroke was not filled"
    assert not changed[distance > 60].any(), "pixels far from the second stroke changed"
    assert "Done in" in page.inner_text("#status")


def test_crop_run(page: Page, tmp_path: Path):
    from PIL import Image

    pixels = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    upload = tmp_path / "photo.png"
    Image.fromarray(pixels).save(upload)
    upload_photo(page, upload)
    page.get_by_text("Options").click()
    page.locator("#crop").get_by_text("on: always", exact=False).click()

    first = [(100.0 + 10 * i, 120.0) for i in range(8)]
    paint(page, image_to_screen(page, W, H), first)
    page.click("#run-btn")
    page.wait_for_function(RESULT_READY, timeout=120_000)
    assert "crop on." in page.inner_text("#status")
    out = np.asarray(fetch_result(page).convert("RGB"))
    assert out.shape == pixels.shape
    far = distance_to_polyline(first, H, W) > 60
    assert np.array_equal(out[far], pixels[far]), "pixels far from the stroke changed"


@pytest.mark.parametrize(
    "upload, expected",
    [
        (None, "Upload a photo first"),
        ("broken", "your browser could not read that file"),
        ("beyond the canvas", "larger than 8192 px"),
    ],
)
def test_bad_uploads_explain_what_to_do(page: Page, tmp_path: Path, upload: str | None, expected: str):
    from PIL import Image

    if upload == "broken":
        path = tmp_path / "broken.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    elif upload == "beyond the canvas":  # the browser's canvas cannot hold it and sends zeros
        path = tmp_path / "wide.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 8300, 3), dtype=np.uint8)).save(path)
    if upload == "broken":
        page.set_input_files("#editor input[type=file]", str(path))
        time.sleep(2)  # give the editor time to fail; the page must still say what to do
    elif upload:
        upload_photo(page, path)
    page.click("#run-btn")
    toast = page.locator(".toast-body").first
    toast.wait_for()
    assert expected in toast.inner_text()


def take_screenshot(path: str, weights: str | None = None) -> None:
    """Serve the demo, run the first example and save a full-page screenshot."""
    import gradio_app
    from in2 import InpaintPipeline

    demo = gradio_app.build_demo(InpaintPipeline.from_pretrained(weights))
    gradio_app.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(demo.local_url)
            page.wait_for_selector("#editor")
            page.locator("#examples tr.tr-body, #examples .gallery-item").first.click()
            page.wait_for_function(RESULT_READY, timeout=600_000)
            time.sleep(1)  # let the slider finish loading its two images
            page.screenshot(path=path, full_page=True)
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Save a screenshot of the demo with a finished example.")
    parser.add_argument("path")
    parser.add_argument("--weights", default=None)
    args = parser.parse_args()
    take_screenshot(args.path, args.weights)
    print(f"saved {args.path}")
