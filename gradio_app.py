"""IN2 demo in the browser: upload a face photo, paint what should go, get it back filled.

A thin page over `in2.InpaintPipeline`: the app only turns the editor's painted layers into
a mask and shows the result. Loading, conversion, compositing and device handling live in the
core, so the page, the CLI and the ComfyUI nodes give the same pixels.

    python gradio_app.py [--weights DIR_OR_REPO] [--revision REV] [--device auto|cpu|cuda|mps]
                         [--dtype fp32|fp16|bf16|auto] [--host 127.0.0.1] [--port N] [--share]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageOps

from in2 import IN2Error, InpaintPipeline, InputError, WeightsError
from in2.imaging import load_mask, read_masks, save_image

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

MODES = [("native: at the photo's own resolution", "native"), ("resize: at the training size, then back", "resize")]
BLENDS = [("off: exact paste into the hole", "none"), ("seam-free: feathered edge and colour match", "seamless")]


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


def editor_photo(background: Image.Image | None) -> Image.Image:
    """The photo to fill, upright and without a useless alpha channel.

    Files sent through the API still carry their EXIF orientation (the browser already
    applied it on the canvas), so apply it here to match what the user sees.
    """
    if background is None:
        raise InputError(
            "Upload a photo first (PNG, JPEG or WebP). If you did, your browser could not read that "
            "file: save it as PNG or JPEG and try again."
        )
    photo = ImageOps.exif_transpose(background)
    w, h = photo.size
    if max(w, h) > CANVAS_LIMIT and not np.asarray(photo).any():
        raise InputError(
            f"This photo is {w}x{h} pixels; browsers cannot paint on images larger than {CANVAS_LIMIT} px "
            f"on a side, so it arrived empty. Scale or crop it to at most {CANVAS_LIMIT} px per side "
            "(or use the `in2 inpaint` command line)."
        )
    if photo.mode == "RGBA" and photo.getchannel("A").getextrema() == (255, 255):
        photo = photo.convert("RGB")
    return photo


def drop_stale_mask(editor: dict[str, Any] | None, mask_file: str | None) -> Any:
    """Forget a mask file that does not fit a newly uploaded photo (e.g. one left by an example).

    Examples also fire the editor's upload event, with their own fitting mask: that one stays.
    """
    if mask_file is None:
        return gr.skip()
    try:
        if load_mask(mask_file).size == editor_photo((editor or {}).get("background")).size:
            return gr.skip()
    except IN2Error:
        pass
    return None


def build_demo(pipeline: InpaintPipeline | None, weights_error: str | None = None) -> gr.Blocks:
    """The page for one loaded pipeline (None: no weights, the page says why and refuses to run).

    Built from a pipeline instead of reading flags so tests can hand in a tiny model.
    """
    out_dir = Path(tempfile.mkdtemp(prefix="in2-demo-"))
    model_lock = threading.Lock()  # one job at a time on the model, whichever event started it

    def inpaint(
        editor: dict[str, Any] | None,
        mask_file: str | None,
        mode: str,
        blend: str,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[str, tuple[Image.Image, str], str, str]:
        """Fill the painted (or uploaded) region; the named API endpoint `/inpaint`."""
        if pipeline is None:
            raise gr.Error(weights_error or "No weights are loaded.", title="No model")
        try:
            editor = editor or {}
            photo = editor_photo(editor.get("background"))
            mask = painted_mask(editor.get("layers") or [], photo.size)
            if mask_file:
                mask |= read_masks(load_mask(mask_file), [(photo.height, photo.width)])[0].numpy()
            if not mask.any():
                raise InputError(
                    "Nothing is painted: paint over what should be filled (or upload a mask, white = fill)."
                )
            progress(0, desc="Waiting for the model" if model_lock.locked() else "Filling")
            with model_lock:
                start = time.perf_counter()
                result = pipeline(
                    photo,
                    mask,
                    mode=mode,
                    blend=blend,
                    progress=lambda done, total: progress((done, total), desc="Filling", unit="chunks"),
                )
                seconds = time.perf_counter() - start
        except IN2Error as exc:
            raise gr.Error(str(exc), title="Cannot fill this photo") from exc
        except (torch.OutOfMemoryError, MemoryError) as exc:
            log.exception("out of memory")
            raise gr.Error(
                f"{pipeline.device} ran out of memory on this {photo.width}x{photo.height} photo. "
                "Try the 'resize' inference mode, crop the photo around the part to fill, or a smaller photo.",
                title="Out of memory",
            ) from exc
        path = _save_png(result, out_dir)
        status = (
            f"Done in **{seconds:.1f} s**: {result.width}x{result.height} px, "
            f"{int(mask.sum()):,} px filled, mode `{mode}`, blending `{blend}`."
        )
        return path, (photo, path), path, status

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
                    image_mode="RGBA",
                    sources=("upload", "clipboard"),
                    transforms=(),
                    layers=False,
                    brush=gr.Brush(colors=[BRUSH_COLOR], default_color=BRUSH_COLOR, color_mode="fixed"),
                    eraser=gr.Eraser(),
                    format="png",
                    elem_id="editor",
                )
                mask_file = gr.File(
                    label="Mask file (optional, adds to the paint): white = fill, same size as the photo",
                    file_types=["image"],
                    type="filepath",
                    height=60,
                    elem_id="mask-file",
                )
                run = gr.Button("Fill", variant="primary", elem_id="run-btn")
                with gr.Accordion("Options", open=False):
                    mode = gr.Radio(MODES, value="native", label="Inference mode", elem_id="mode")
                    blend = gr.Radio(BLENDS, value="none", label="Blending", elem_id="blend")
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
        outputs = [result, compare, download, status]
        # Registered before the examples, whose run event would otherwise take the name.
        run.click(
            inpaint,
            inputs=[editor, mask_file, mode, blend],
            outputs=outputs,
            api_name="inpaint",
            concurrency_limit=1,
            concurrency_id="model",
        )
        with left:  # under the options, once the outputs they fill exist
            gr.Examples(
                examples=[[str(EXAMPLES_DIR / p), str(EXAMPLES_DIR / m), "native", "seamless"] for p, m in EXAMPLES],
                inputs=[editor, mask_file, mode, blend],
                outputs=outputs,
                fn=inpaint,
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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="IN2 face inpainting demo in the browser.")
    p.add_argument("--weights", metavar="DIR_OR_REPO", help="weights folder or Hugging Face repo id (default: the bundled demo weights)")
    p.add_argument("--revision", metavar="REV", help="branch, tag or commit of a Hugging Face repo")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument(
        "--dtype", default="fp32", choices=["fp32", "fp16", "bf16", "auto"],
        help="compute precision (auto: bf16 on GPUs that support it, else fp32)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860 or the next free one)")
    p.add_argument("--share", action="store_true", help="also publish a temporary public gradio.live link")
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
        if args.weights is not None:  # an explicit choice that fails is a mistake to fix, not to hide
            print(f"error: {exc}", file=sys.stderr)
            return 2
        error = str(exc)
        print(f"warning: {error}\nThe page will open but cannot fill photos until weights are given.", file=sys.stderr)
    except IN2Error as exc:  # e.g. --device cuda without a GPU
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if pipeline is not None:
        print(f"Loaded {pipeline.describe()}")
    launch(build_demo(pipeline, error), host=args.host, port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
