"""IN2 demo in the browser: upload a face photo, paint what should go, get it back filled.

A thin page over `in2.InpaintPipeline`: the app only turns the editor's painted layers into
a mask and shows the result. Loading, conversion, compositing and device handling live in the
core, so the page, the CLI and the ComfyUI nodes give the same pixels.

    python gradio_app.py [--weights DIR_OR_REPO] [--revision REV] [--device auto|cpu|cuda|mps]
                         [--dtype fp32|fp16|bf16|auto] [--host 127.0.0.1] [--port N] [--share] [--mcp]

Two API endpoints: `/inpaint` (the editor's value, as the page sends it) and `/inpaint_files`
(a photo file and an optional mask file); `--mcp` also serves `/inpaint_files` as an MCP tool
(the editor's value has no schema an MCP client could fill).

One page, read top to bottom: its input checks, its two endpoints (``Endpoints``, whose
docstrings are the API and MCP documentation clients read), the layout that wires them
(``build_demo``), and the launcher. The option names, precisions and the out-of-memory advice
come from `in2.options`; everything else the page does is the core's.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

import gradio as gr
import numpy as np
from gradio.data_classes import FileData
from gradio.utils import get_upload_folder
from PIL import Image, ImageOps

from in2 import IN2Error, InpaintPipeline, InputError, WeightsError
from in2.errors import EmptyMaskWarning
from in2.imaging import decode_image, fit_image, output_fit, read_masks, save_image
from in2.numbers import as_float
from in2.options import BLENDS, CROPS, DEVICE_CHOICES, DTYPE_CHOICES, MODES, memory_advice, out_of_memory_errors

log = logging.getLogger("in2.demo")

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
#: (photo, mask) pairs offered as one-click examples; masks are white = fill.
EXAMPLES = [
    ("grace_hopper.jpg", "grace_hopper_mask.png"),
    ("astronaut_portrait.png", "astronaut_portrait_mask.png"),
]
#: Headless Chromium cannot hold a larger WebGL texture; bigger photos reach us as all zeros.
CANVAS_LIMIT = 8192
MAX_FILE_SIZE = "64mb"
QUEUE_SIZE = 16
#: Colour of the brush; translucent so the face stays visible under the paint.
BRUSH_COLOR = ("#ff00ff", 0.6)

#: How the page words each choice of `in2.options` (the radio shows the label, sends the name).
LABELS = {
    "native": "native: at the photo's own resolution",
    "resize": "resize: at the training size, then back",
    "none": "off: exact paste into the hole",
    "seamless": "seam-free: feathered edge and colour match",
    "auto": "auto: a box around each hole when the photo is large",
    "on": "on: always a box of context around each hole",
    "off": "off: the whole photo",
}
MAX_GROW = 64
#: Where Gradio serves (and MCP clients name) files uploaded to this server.
_FILE_ROUTE = "/gradio_api/file="


def painted_mask(layers: Sequence[Image.Image | None], size: tuple[int, int]) -> np.ndarray:
    """Union of everything painted on the editor's layers (alpha > 0), as a bool HxW array.

    The editor paints on transparent layers, so the alpha channel is the only reliable
    record of a stroke (the colour under alpha 0 is arbitrary).
    """
    mask = np.zeros((size[1], size[0]), dtype=bool)
    for layer in layers:
        if layer is None:
            continue
        if layer.size != size:
            raise InputError(
                f"A painted layer is {layer.size[0]}x{layer.size[1]} but the photo is {size[0]}x{size[1]}; "
                "paint on the photo itself (layers must match its size)."
            )
        mask |= np.asarray(layer.convert("RGBA"))[..., 3] > 0
    return mask


def editor_photo(background: Image.Image | None, from_browser: bool = True) -> Image.Image:
    """The photo to fill, upright, without a useless alpha channel, in a mode PNG stores.

    Files sent through the API still carry their EXIF orientation (the browser already
    applied it on the canvas), so apply it here to match what the user sees. The result is
    a PNG, so a CMYK (or other print-colour) photo is filled as RGB, converted once up front.
    Only a photo from the page's canvas (``from_browser``) can arrive blank because of the
    browser's size limit.
    """
    if background is None:
        raise InputError(
            "Upload a photo first (PNG, JPEG or WebP). If you did, your browser could not read that "
            "file: save it as PNG or JPEG and try again."
        )
    photo = ImageOps.exif_transpose(background)
    w, h = photo.size
    if from_browser and max(w, h) > CANVAS_LIMIT and not np.asarray(photo).any():
        raise InputError(
            f"This photo is {w}x{h} pixels; browsers cannot paint on images larger than {CANVAS_LIMIT} px "
            f"on a side, so it arrived empty. Scale or crop it to at most {CANVAS_LIMIT} px per side "
            "(or use the `in2 inpaint` command line)."
        )
    if max(w, h) > CANVAS_LIMIT:  # the page's own limit, so one request cannot hold the queue for long
        raise InputError(
            f"This photo is {w}x{h} pixels; the demo takes photos of at most {CANVAS_LIMIT} px per side. "
            "Scale or crop it, or use the `in2 inpaint` command line for larger photos."
        )
    if photo.mode == "RGBA" and photo.getchannel("A").getextrema() == (255, 255):
        photo = photo.convert("RGB")
    try:
        output_fit(photo, "result.png")
    except InputError as exc:
        if photo.mode == "I":  # 32-bit values beyond 16 bits: converting would clip them, silently
            raise InputError(f"{exc.args[0].split(' (')[0]}; the demo returns PNG: fill it with the `in2 inpaint` "
                             "command line and a .tif output") from None
        photo = photo.convert("RGBA" if "A" in photo.getbands() else "RGB")
    return photo


def decode_editor_file(file: FileData | bytes | None, flatten_on_white: bool = False) -> Image.Image | None:
    """The editor's files decoded by in2 rather than converted to RGBA by Gradio (it replaces the
    editor's ``convert_and_format_image``): a 16-bit or float photo sent through the API keeps its
    values (RGBA would clip them to white or black), and a file that is not an image gets in2's
    one-line message, naming the file as it was sent rather than where this server keeps it.
    (A subclass of the editor would do the same, but Gradio writes a stub file beside any module
    that defines a component.)"""
    if file is None:
        return None
    if isinstance(file, FileData):
        name, data = file.orig_name or "the photo", Path(file.path).read_bytes()
    else:
        name, data = "the photo", bytes(file)
    try:
        return decode_image(data, name, "image")
    except IN2Error as exc:
        raise gr.Error(str(exc), title="Cannot fill this photo") from None


def drop_stale_mask(editor: dict[str, Any] | None, mask_file: str | None) -> Any:
    """Forget a mask file that does not fit a newly uploaded photo (e.g. one left by an example).

    Examples also fire the editor's upload event, with their own fitting mask: that one stays.
    """
    if mask_file is None:
        return gr.skip()
    try:
        if decode_upload(mask_file, "mask").size == editor_photo((editor or {}).get("background")).size:
            return gr.skip()
    except IN2Error:
        pass
    return None


class Endpoints:
    """The page's two API endpoints over one pipeline, one job at a time on the model.

    A class, not closures inside the layout, so each endpoint reads (and is tested) on its own;
    their docstrings are the API and MCP documentation clients read.
    """

    def __init__(self, pipeline: InpaintPipeline | None, weights_error: str | None = None) -> None:
        self.pipeline = pipeline
        self.weights_error = weights_error
        self.out_dir = Path(tempfile.mkdtemp(prefix="in2-demo-"))
        self.model_lock = threading.Lock()  # one job at a time on the model, whichever event started it

    def fill(
        self, photo: Image.Image, mask: np.ndarray, mode: str, blend: str, crop: str, grow: float, progress: gr.Progress
    ) -> tuple[Image.Image, np.ndarray, float]:
        """Run the pipeline on one photo (one job at a time); errors become readable messages."""
        if self.pipeline is None:
            raise gr.Error(self.weights_error or "No weights are loaded.", title="No model")
        if not mask.any():
            raise gr.Error(
                "Nothing is painted: paint over what should be filled (or upload a mask, white = fill).",
                title="Cannot fill this photo",
            )
        progress(0, desc="Waiting for the model" if self.model_lock.locked() else "Filling")
        try:
            with self.model_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore", EmptyMaskWarning)  # said below, in the page's words
                outcome = self.pipeline(
                    photo, mask, mode=mode, blend=blend, crop=crop, grow=grow,
                    progress=lambda done, total: progress((done, total), desc="Filling", unit="chunks"),
                )
        except IN2Error as exc:
            raise gr.Error(str(exc), title="Cannot fill this photo") from exc
        except out_of_memory_errors() as exc:
            log.exception("out of memory")
            ways = memory_advice(lambda name, value: f"{name} '{value}'", offered=("crop", "mode"))
            raise gr.Error(f"{self.pipeline.device} ran out of memory on this {photo.width}x{photo.height} photo. "
                           f"Try {ways}.", title="Out of memory") from exc
        if not bool(outcome.mask.any()):
            raise gr.Error(f"Nothing to fill: shrinking the mask by {-grow:g} pixels left nothing of it. Use a smaller "
                           "shrink (grow closer to 0) or paint a larger area.", title="Cannot fill this photo")
        return outcome.image, outcome.mask.numpy(), outcome.timings["total"]

    def inpaint(
        self,
        editor: dict[str, Any] | None,
        mask_file: str | None = None,
        mode: str = MODES[0],
        blend: str = BLENDS[0],
        crop: str = CROPS[0],
        grow: float = 0,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented progress hook
    ) -> tuple[str, tuple[Image.Image, str], str, str]:
        """Fill the painted (and/or uploaded) area of a photo with IN2; every other pixel stays as it was.

        Args:
            editor: the image editor's value: {"background": photo file, "layers": [transparent PNGs whose painted (opaque) pixels mark the area to fill], "composite": null}.
            mask_file: optional mask image of the photo's size, white = fill; adds to the painted layers.
            mode: "native" runs the model at the photo's own resolution; "resize" at its training size.
            blend: "none" pastes the fill; "seamless" colour-matches it and hides the seam inside the hole.
            crop: "auto", "on" (fill each hole inside a box of context around it) or "off" (the whole photo).
            grow: pixels to grow the mask by before filling, from -16 to 64 (negative shrinks it).

        Returns:
            The filled PNG, the before/after pair, the PNG to download, and a status line.
        """  # noqa: E501 - Gradio and MCP read one line per argument
        grow = _slider_value(grow, "grow", -MAX_GROW // 4, MAX_GROW)
        try:
            editor = editor or {}
            photo = editor_photo(editor.get("background"))
            mask = painted_mask(editor.get("layers") or [], photo.size)
            if mask_file:
                mask |= read_masks(decode_upload(mask_file, "mask"), [(photo.height, photo.width)])[0].numpy()
        except IN2Error as exc:
            raise gr.Error(str(exc), title="Cannot fill this photo") from exc
        result, filled, seconds = self.fill(photo, mask, mode, blend, crop, grow, progress)
        path = _save_png(result, self.out_dir)
        status = (
            f"Done in **{seconds:.1f} s**: {result.width}x{result.height} px, "
            f"{int(filled.sum()):,} px filled, mode `{mode}`, blending `{blend}`, crop `{crop}`."
        )
        # the slider shows it as a PNG (a float photo is not one)
        before = fit_image(photo, output_fit(photo, "before.png"))
        return path, (before, path), path, status

    def inpaint_files(
        self,
        image: FileData | str,
        mask: FileData | str | None = None,
        mode: str = MODES[0],
        blend: str = BLENDS[0],
        crop: str = CROPS[0],
        grow: float = 0,
    ) -> FileData:
        """Fill the white area of a mask in a photo with IN2 and return the PNG at the photo's exact size.

        Args:
            image: the photo (PNG, JPEG or WebP): a file, a data:image/...;base64 URL, or the /gradio_api/file= URL of a file uploaded to this server.
            mask: optional mask image of the photo's size, white (or opaque alpha) = fill, sent like the photo. Without it, the photo's transparent pixels are filled.
            mode: "native" runs the model at the photo's own resolution; "resize" at its training size.
            blend: "none" pastes the fill; "seamless" colour-matches it and hides the seam inside the hole.
            crop: "auto", "on" (fill each hole inside a box of context around it) or "off" (the whole photo).
            grow: pixels to grow the mask by before filling, from -16 to 64 (negative shrinks it).

        Returns:
            The filled photo as a PNG file.
        """  # noqa: E501 - Gradio and MCP read one line per argument
        grow = _slider_value(grow, "grow", -MAX_GROW // 4, MAX_GROW)
        try:
            photo = editor_photo(sent_file(image, "image"), from_browser=False)
            if mask is not None:
                hole = read_masks(sent_file(mask, "mask"), [(photo.height, photo.width)])[0].numpy()
            else:
                hole = transparent_pixels(photo)
                photo = photo.convert("RGB")  # the filled area must not stay transparent
        except IN2Error as exc:
            raise gr.Error(str(exc), title="Cannot fill this photo") from exc
        result, _, _ = self.fill(photo, hole, mode, blend, crop, grow, gr.Progress())
        return FileData(path=_save_png(result, self.out_dir))

    # The editor's value has no schema an MCP client can fill (its file references do not
    # resolve), so the page's endpoint is not offered as an MCP tool; MCP uses inpaint_files.
    inpaint._mcp_type = "page"  # type: ignore[attr-defined]


def build_demo(pipeline: InpaintPipeline | None, weights_error: str | None = None) -> gr.Blocks:
    """The page for one loaded pipeline (None: no weights, the page says why and refuses to run).

    Built from a pipeline instead of reading flags so tests can hand in a tiny model. Layout
    only: what the buttons run is ``Endpoints``.
    """
    endpoints = Endpoints(pipeline, weights_error)
    with gr.Blocks(title="IN2 face inpainting", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# IN2 face inpainting\n"
            "Upload a face photo, paint over what should go, press **Fill**. "
            "The photo keeps its own size: nothing is cropped or scaled."
        )
        gr.Markdown(_weights_banner(pipeline, weights_error), elem_id="weights-info")
        with gr.Row():
            with gr.Column() as left:
                editor = gr.ImageEditor(
                    label="Photo: paint over what should be filled",
                    type="pil",
                    sources=("upload", "clipboard"),
                    transforms=(),
                    layers=False,
                    brush=gr.Brush(colors=[BRUSH_COLOR], default_color=BRUSH_COLOR, color_mode="fixed"),
                    eraser=gr.Eraser(),
                    format="png",
                    elem_id="editor",
                )
                editor.convert_and_format_image = decode_editor_file  # in2 decodes what arrives
                mask_file = gr.File(
                    label="Mask file (optional, adds to the paint): white = fill, same size as the photo",
                    file_types=["image"],
                    type="filepath",
                    height=120,  # room for the label and the drop hint on two lines
                    elem_id="mask-file",
                )
                run = gr.Button("Fill", variant="primary", elem_id="run-btn")
                mode, blend, crop, grow = _option_controls()
            with gr.Column():
                compare = gr.ImageSlider(
                    label="Before / after", type="pil", format="png", interactive=False, elem_id="compare"
                )
                status = gr.Markdown(elem_id="status")
                download = gr.DownloadButton("Download PNG", elem_id="download")
                result = gr.Image(
                    label="Result at full size (PNG)", type="filepath", format="png", interactive=False,
                    buttons=["download", "fullscreen"], height=360, elem_id="result",
                )
                reuse = gr.Button("Use the result as the new photo", elem_id="reuse-btn")
        outputs = [result, compare, download, status]
        # Registered before the examples, whose run event would otherwise take the name.
        run.click(
            endpoints.inpaint,
            inputs=[editor, mask_file, mode, blend, crop, grow],
            outputs=outputs,
            api_name="inpaint",
            concurrency_limit=1,
            concurrency_id="model",
        )
        gr.api(endpoints.inpaint_files, api_name="inpaint_files", concurrency_limit=1, concurrency_id="model")
        reuse.click(result_as_photo, inputs=result, outputs=[editor, mask_file], api_visibility="private")
        with left:  # under the options, once the outputs they fill exist
            gr.Examples(
                examples=[[str(EXAMPLES_DIR / p), str(EXAMPLES_DIR / m), "native", "seamless"] for p, m in EXAMPLES],
                inputs=[editor, mask_file, mode, blend],
                outputs=outputs,
                fn=endpoints.inpaint,
                run_on_click=True,
                cache_examples=False,
                label="Examples: click one to fill its prepared mask",
                visible_columns=[0],
                api_visibility="private",
                elem_id="examples",
            )
        editor.upload(drop_stale_mask, inputs=[editor, mask_file], outputs=mask_file, api_visibility="private")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return demo


def _option_controls() -> tuple[gr.Radio, gr.Radio, gr.Radio, gr.Slider]:
    """The folded "Options": inference mode, blending, crop and how far to grow the mask."""
    with gr.Accordion("Options", open=False):
        mode = gr.Radio(_choices(MODES), value=MODES[0], label="Inference mode", elem_id="mode")
        blend = gr.Radio(_choices(BLENDS), value=BLENDS[0], label="Blending", elem_id="blend")
        crop = gr.Radio(_choices(CROPS), value=CROPS[0], label="Crop around each hole", elem_id="crop")
        grow = gr.Slider(
            -MAX_GROW // 4, MAX_GROW, value=0, step=1, label="Grow the mask (pixels)", elem_id="grow",
            info="Covers the halo a tight stroke leaves around what should go; negative shrinks it.",
        )
    return mode, blend, crop, grow


def transparent_pixels(image: Image.Image) -> np.ndarray:
    """The fill area of a photo sent without a mask: its transparent pixels (alpha < 50%)."""
    if "A" not in image.getbands():
        raise InputError(
            "No mask was given and the photo has no transparency: pass a mask file (white = fill), "
            "or erase the area to fill to transparent in the photo."
        )
    return np.asarray(image.getchannel("A")) < 128


def result_as_photo(result: str | None) -> tuple[Any, None]:
    """The last result becomes the photo in the editor (no paint, no mask file): step-by-step retouching.

    The editor paints on its layer; a value without one leaves the next stroke nowhere, so
    the new photo comes with one empty (transparent) layer of its size."""
    if not result:
        raise gr.Error("There is no result yet: press Fill first.", title="Nothing to reuse")
    with Image.open(result) as image:
        size = image.size
    return {"background": result, "layers": [Image.new("RGBA", size, (0, 0, 0, 0))], "composite": result}, None


def _slider_value(value: Any, name: str, low: int, high: int) -> float:
    """A slider's value as sent through the API, held to the slider's own range."""
    try:
        number = as_float(value, name, f"a number from {low} to {high}")
    except InputError as exc:
        raise gr.Error(str(exc), title="Cannot fill this photo") from exc
    if not low <= number <= high:
        raise gr.Error(f"{name} must be from {low} to {high} pixels (the page's slider), got {number:g}",
                       title="Cannot fill this photo")
    return number


def _choices(names: Sequence[str]) -> list[tuple[str, str]]:
    """(label, name) pairs for a radio over one of `in2.options`' lists."""
    return [(LABELS[name], name) for name in names]


def sent_file(data: Any, what: str) -> Image.Image:
    """The image a `gr.api` caller sent as ``what`` ("image" or "mask"), decoded by the core.

    Accepted: a file Gradio received (gradio_client's ``handle_file``), a ``data:`` URL with
    the file in base64, or a file uploaded to this server (``POST /gradio_api/upload``) named by
    its ``/gradio_api/file=`` URL or path. Nothing else is read: no other local path, and no
    URL is fetched (an MCP client on this machine needs neither).
    """
    if isinstance(data, FileData):
        data = data.path
    elif isinstance(data, dict):
        data = data.get("path")
    if isinstance(data, str) and data.startswith("data:"):
        header, _, payload = data.partition(",")
        try:
            raw = base64.b64decode(payload, validate=True) if header.endswith(";base64") else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            raise InputError(f"The {what} data: URL is not base64: send data:image/png;base64,<the file in base64>.")
        return decode_image(raw, f"(the {what} data: URL)", what)
    if isinstance(data, str) and data:
        path = unquote(data.split(_FILE_ROUTE, 1)[1]) if _FILE_ROUTE in data else data
        uploads = os.path.realpath(get_upload_folder())
        if os.path.realpath(path).startswith(uploads + os.sep):
            return decode_upload(path, what)
    raise InputError(
        f"No usable {what} was sent. Send the {what} as a file: with gradio_client, handle_file(path); with MCP, a "
        f"data:image/png;base64,... URL, or the {_FILE_ROUTE}... URL of a file uploaded to this server "
        "(POST /gradio_api/upload). Other paths and URLs are not read."
    )


def decode_upload(path: str, what: str) -> Image.Image:
    """A file Gradio received, decoded by the core and named without this server's folders."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"The {what} file could not be read on the server ({exc.strerror}); send it again.") from None
    return decode_image(raw, os.path.basename(path), what)


def _save_png(image: Image.Image, out_dir: Path) -> str:
    """Write the result once, losslessly; the page, the slider and the download share the file."""
    for old in out_dir.glob("*.png"):  # gradio keeps its own copy; ours are only needed briefly
        if time.time() - old.stat().st_mtime > 600:
            old.unlink(missing_ok=True)
    path = out_dir / f"in2_{image.width}x{image.height}_{time.time_ns()}.png"
    save_image(image, path)
    return str(path)


def _weights_banner(pipeline: InpaintPipeline | None, weights_error: str | None) -> str:
    """Which weights answer and where they run, so nobody mistakes the demo model for a product."""
    if pipeline is None:
        return f"**No model is loaded:** {weights_error or 'no weights were given.'}"
    return f"**Model:** {pipeline.describe()}"


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False, **kwargs: Any):
    """Start the server with the app's limits (upload size); extra kwargs go to `Blocks.launch`."""
    return demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=MAX_FILE_SIZE,
        show_error=True,
        **kwargs,
    )


def _port(text: str) -> int:
    """A TCP port number, 1 to 65535 (argparse prints the message and exits 2 otherwise)."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: pass a whole number from 1 to 65535")
    return port


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="IN2 face inpainting demo in the browser.")
    p.add_argument(
        "--weights",
        metavar="DIR_OR_REPO",
        help="weights folder or Hugging Face repo id (default: the bundled demo weights)",
    )
    p.add_argument("--revision", metavar="REV", help="branch, tag or commit of a Hugging Face repo")
    p.add_argument("--device", default=DEVICE_CHOICES[0], choices=DEVICE_CHOICES)
    p.add_argument(
        "--dtype", default="fp32", choices=DTYPE_CHOICES,
        help="compute precision (auto: bf16 on GPUs that support it, else fp32)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=_port, default=None, help="port (default: 7860 or the next free one)")
    p.add_argument("--share", action="store_true", help="also publish a temporary public gradio.live link")
    p.add_argument("--mcp", action="store_true",
                   help="also serve the inpaint_files endpoint (a photo and a mask file) as an MCP tool "
                        "(needs gradio[mcp])")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Load the weights, then serve the page until interrupted."""
    args = parse_args(argv)
    pipeline, error = None, None
    try:
        pipeline = InpaintPipeline.from_pretrained(
            weights=args.weights, revision=args.revision, device=args.device, dtype=args.dtype
        )
    except WeightsError as exc:
        if args.weights is not None or args.revision:  # an explicit choice that fails is a mistake to fix, not to hide
            print(f"error: {exc}", file=sys.stderr)
            return 2
        error = str(exc)
        print(f"warning: {error}\nThe page will open but cannot fill photos until weights are given.", file=sys.stderr)
    except IN2Error as exc:  # e.g. --device cuda without a GPU
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if pipeline is not None:
        print(f"Loaded {pipeline.describe()}")
    try:
        launch(build_demo(pipeline, error), host=args.host, port=args.port, share=args.share, mcp_server=args.mcp)
    except OSError as exc:  # a busy or forbidden port, an address this machine does not have
        where = f"port {args.port}" if args.port else "a free port from 7860 on"
        why = str(exc).split(". ")[0].rstrip(".")
        print(f"error: cannot serve on {args.host}, {where} ({why}): pass another --port, or leave it out to take "
              "the next free one", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
