"""The demo served for real on 127.0.0.1 and called the way API users call it (gradio_client).

A tiny untrained model stands in for trained weights: these tests check the plumbing
(sizes, untouched pixels, errors a person can read), not the quality of the fill.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # gradio_app.py is a script at the root

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

import gradio_app  # noqa: E402
from in2 import IN2, IN2Config, InpaintPipeline  # noqa: E402

W, H = 601, 517  # deliberately not square and not a multiple of anything


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(demo: gr.Blocks) -> Client:
    gradio_app.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    return Client(demo.local_url, verbose=False)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_weights")
    IN2(IN2Config.tiny()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipeline(weights: Path) -> InpaintPipeline:
    return InpaintPipeline.from_pretrained(str(weights), device="cpu")


@pytest.fixture(scope="module")
def client(pipeline: InpaintPipeline):
    demo = gradio_app.build_demo(pipeline)
    c = serve(demo)
    yield c
    demo.close()


def make_photo(tmp_path: Path, width: int, height: int, name: str = "photo.png") -> tuple[Path, np.ndarray]:
    pixels = np.random.default_rng(width * height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return path, pixels


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return make_photo(tmp_path, W, H)


def layer_file(tmp_path: Path, hole: np.ndarray, name: str = "layer.png") -> Path:
    """A brush layer as the editor exports it: transparent, painted pixels opaque-ish."""
    rgba = np.zeros((*hole.shape, 4), dtype=np.uint8)
    rgba[hole] = (255, 0, 255, 153)
    path = tmp_path / name
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def editor_value(background: Path | None, layers: list[Path] = ()) -> dict:
    return {
        "background": handle_file(str(background)) if background else None,
        "layers": [handle_file(str(p)) for p in layers],
        "composite": None,
    }


def inpaint(client: Client, editor: dict, mask: Path | None = None, mode: str = "native", blend: str = "none"):
    return client.predict(
        editor, handle_file(str(mask)) if mask else None, mode, blend, api_name="/inpaint"
    )


def rect_hole(top: int, left: int, bottom: int, right: int, shape=(H, W)) -> np.ndarray:
    hole = np.zeros(shape, dtype=bool)
    hole[top:bottom, left:right] = True
    return hole


@pytest.mark.slow  # talks to a running server
def test_painted_region_is_filled_at_full_size_and_nothing_else_changes(client, photo, tmp_path):
    path, pixels = photo
    hole = rect_hole(100, 50, 220, 330)
    result, compare, download, status = inpaint(client, editor_value(path, [layer_file(tmp_path, hole)]))

    assert result.endswith(".png") and download.endswith(".png")
    out = Image.open(result)
    assert out.format == "PNG" and out.size == (W, H) and out.mode == "RGB"
    out = np.asarray(out)
    assert np.array_equal(out[~hole], pixels[~hole]), "pixels outside the painted region changed"
    assert (out[hole] != pixels[hole]).any(), "the painted region was not filled"
    assert np.array_equal(np.asarray(Image.open(download)), out)
    before, after = compare
    assert np.array_equal(np.asarray(Image.open(before).convert("RGB")), pixels)
    assert np.array_equal(np.asarray(Image.open(after)), out)
    assert "Done in" in status and f"{W}x{H}" in status


@pytest.mark.slow  # talks to a running server
def test_mask_file_and_options_with_a_jpeg_keep_its_decoded_pixels(client, tmp_path):
    """A JPEG must not be re-encoded on the way in: known pixels equal the decoded file."""
    w, h = 243, 187
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(jpeg, quality=90)
    decoded = np.asarray(Image.open(jpeg).convert("RGB"))
    hole = rect_hole(100, 120, 160, 220, shape=(h, w))
    mask = tmp_path / "mask.png"
    Image.fromarray(hole.astype(np.uint8) * 255, "L").save(mask)

    for mode, blend in [("native", "seamless"), ("resize", "none")]:
        result, *_ = inpaint(client, editor_value(jpeg), mask=mask, mode=mode, blend=blend)
        out = np.asarray(Image.open(result))
        assert out.shape == (h, w, 3)
        assert np.array_equal(out[~hole], decoded[~hole]), (mode, blend)
        assert (out[hole] != decoded[hole]).any(), (mode, blend)


@pytest.mark.slow  # talks to a running server
def test_painted_layer_and_mask_file_add_up(client, tmp_path):
    path, pixels = make_photo(tmp_path, 203, 151)
    painted, uploaded = rect_hole(10, 10, 60, 60, (151, 203)), rect_hole(100, 150, 140, 195, (151, 203))
    mask = tmp_path / "mask.png"
    Image.fromarray(uploaded.astype(np.uint8) * 255, "L").save(mask)
    result, *_ = inpaint(client, editor_value(path, [layer_file(tmp_path, painted)]), mask=mask)
    out = np.asarray(Image.open(result))
    both = painted | uploaded
    assert np.array_equal(out[~both], pixels[~both])
    assert (out[painted] != pixels[painted]).any() and (out[uploaded] != pixels[uploaded]).any()


@pytest.mark.slow  # talks to a running server
def test_exif_rotated_phone_photo_is_filled_upright(client, tmp_path):
    """gradio_client sends the file as stored; the page must use it as a viewer shows it."""
    stored = np.random.default_rng(2).integers(0, 256, (40, 64, 3), dtype=np.uint8)  # 64 wide, 40 tall
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    upright = np.asarray(Image.open(path).convert("RGB").transpose(Image.Transpose.ROTATE_270))
    assert upright.shape == (64, 40, 3)
    hole = rect_hole(5, 5, 20, 30, shape=(64, 40))

    result, *_ = inpaint(client, editor_value(path, [layer_file(tmp_path, hole)]))
    out = np.asarray(Image.open(result))
    assert out.shape == (64, 40, 3)
    assert np.array_equal(out[~hole], upright[~hole])


@pytest.mark.slow  # talks to a running server
@pytest.mark.parametrize(
    "case, expected",
    [
        ("no image", "Upload a photo first"),
        ("nothing painted", "Nothing is painted"),
        ("mask of another size", "exact size"),
        ("unreadable mask", "not an image"),
        ("beyond the canvas limit", "8192"),
    ],
)
def test_errors_come_back_as_readable_messages(client, photo, tmp_path, case, expected):
    path, _ = photo
    mask = None
    editor = editor_value(path)
    if case == "no image":
        editor = editor_value(None)
    elif case == "mask of another size":
        mask = tmp_path / "small.png"
        Image.new("L", (W - 1, H), 255).save(mask)
    elif case == "unreadable mask":
        mask = tmp_path / "mask.png"
        mask.write_bytes(b"this is not a picture")
    elif case == "beyond the canvas limit":  # what the browser sends when the canvas gave up
        black = tmp_path / "huge.png"
        Image.new("RGBA", (8200, 2), (0, 0, 0, 0)).save(black)
        editor = editor_value(black, [layer_file(tmp_path, np.ones((2, 8200), bool))])
    with pytest.raises(AppError, match=expected):
        inpaint(client, editor, mask=mask)


def test_too_large_for_the_machine_names_the_limit(weights, photo, tmp_path):
    path, _ = photo
    small = InpaintPipeline.from_pretrained(str(weights), device="cpu")
    small.max_pixels = 200_000  # 601x517 is 0.31 MP
    demo = gradio_app.build_demo(small)
    try:
        c = serve(demo)
        with pytest.raises(AppError, match=r"too large.*0\.2 MP"):  # crop 'auto': the boxes are over the limit too
            inpaint(c, editor_value(path, [layer_file(tmp_path, rect_hole(0, 0, 400, 500))]))
    finally:
        demo.close()


def test_without_weights_the_page_opens_and_says_why(photo, tmp_path):
    path, _ = photo
    demo = gradio_app.build_demo(None, "no trained IN2 weights are bundled; pass --weights DIR")
    try:
        c = serve(demo)
        with pytest.raises(AppError, match="no trained IN2 weights are bundled"):
            inpaint(c, editor_value(path, [layer_file(tmp_path, rect_hole(0, 0, 10, 10))]))
    finally:
        demo.close()


def test_uploads_beyond_the_size_limit_are_refused(pipeline, photo, monkeypatch):
    path, _ = photo  # about 0.9 MB of noise
    monkeypatch.setattr(gradio_app, "MAX_FILE_SIZE", "100kb")
    demo = gradio_app.build_demo(pipeline)
    try:
        c = serve(demo)
        with pytest.raises(ValueError, match="exceeds the maximum file size"):  # gradio_client checks first
            inpaint(c, editor_value(path))
        with path.open("rb") as f:  # and the server refuses it from anyone else (a browser)
            answer = httpx.post(demo.local_url + "gradio_api/upload", files={"files": ("photo.png", f, "image/png")})
        assert answer.status_code == 413
    finally:
        demo.close()


def test_one_job_runs_at_a_time_and_a_full_queue_refuses_more(pipeline, tmp_path, monkeypatch):
    import threading
    import time

    from gradio_client.utils import QueueError

    started, release = threading.Event(), threading.Event()

    class Held:
        """The loaded pipeline, held at the start of each run until the test lets it go."""

        device = pipeline.device

        def describe(self) -> str:
            return pipeline.describe()

        def __call__(self, *args, **kwargs):
            started.set()
            release.wait(60)
            return pipeline(*args, **kwargs)

    monkeypatch.setattr(gradio_app, "QUEUE_SIZE", 1)
    path, _ = make_photo(tmp_path, 64, 48)
    editor = editor_value(path, [layer_file(tmp_path, rect_hole(5, 5, 20, 20, shape=(48, 64)))])
    demo = gradio_app.build_demo(Held())
    try:
        c = serve(demo)
        running = c.submit(editor, None, "native", "none", api_name="/inpaint")
        assert started.wait(60)  # the first job holds the model
        later = [c.submit(editor, None, "native", "none", api_name="/inpaint") for _ in range(2)]
        deadline = time.monotonic() + 60
        while not any(job.done() for job in later) and time.monotonic() < deadline:
            time.sleep(0.1)  # a refusal comes back at once; a queued job waits for the model
        release.set()
        outcomes = []
        for job in [running, *later]:
            try:
                job.result(timeout=120)
                outcomes.append("done")
            except QueueError:
                outcomes.append("refused")
    finally:
        release.set()
        demo.close()
    # one running, one waiting (the queue holds one), the third refused; two at once would run all three
    assert outcomes[0] == "done" and sorted(outcomes[1:]) == ["done", "refused"]


def test_painted_mask_counts_every_touched_pixel():
    layer = np.zeros((4, 5, 4), dtype=np.uint8)
    layer[1, 2, 3] = 1  # the faintest antialiased edge of a stroke is still paint
    layer[3, 4] = (0, 0, 0, 255)
    mask = gradio_app.painted_mask([Image.fromarray(layer, "RGBA"), None], (5, 4))
    assert mask.sum() == 2 and mask[1, 2] and mask[3, 4]


def test_main_rejects_weights_that_do_not_load(tmp_path, capsys):
    assert gradio_app.main(["--weights", str(tmp_path / "nowhere"), "--device", "cpu"]) == 2
    assert "error:" in capsys.readouterr().err


def test_main_rejects_a_device_that_is_not_there(weights, monkeypatch, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert gradio_app.main(["--weights", str(weights), "--device", "cuda"]) == 2
    assert "not available" in capsys.readouterr().err


def test_default_host_is_local_only():
    args = gradio_app.parse_args([])
    assert args.host == "127.0.0.1" and args.weights is None and args.device == "auto"


def test_help_names_the_one_mcp_tool(capsys):
    with pytest.raises(SystemExit):
        gradio_app.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "serve the inpaint_files endpoint (a photo and a mask file) as an MCP tool" in text
    assert "both" not in text


# --------------------------------------------------------------------------- plain endpoint, crop, grow


@pytest.mark.slow  # talks to a running server
def test_both_endpoints_need_only_their_required_arguments(client, photo, tmp_path):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name, required in (("/inpaint", ["editor"]), ("/inpaint_files", ["image"])):
        params = api[name]["parameters"]
        assert [p["parameter_name"] for p in params if not p["parameter_has_default"]] == required, name
    path, pixels = photo
    hole = rect_hole(10, 10, 40, 60)
    result, _, _, status = client.predict(editor_value(path, [layer_file(tmp_path, hole)]), api_name="/inpaint")
    out = np.asarray(Image.open(result))
    assert np.array_equal(out[~hole], pixels[~hole]) and "crop `auto`" in status


@pytest.mark.slow  # talks to a running server
def test_plain_endpoint_fills_transparent_pixels_without_a_mask(client, tmp_path):
    rgb = np.random.default_rng(5).integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = np.full((H, W), 255, np.uint8)
    alpha[100:150, 200:260] = 0
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "cut.png")
    out = Image.open(client.predict(handle_file(str(tmp_path / "cut.png")), api_name="/inpaint_files"))
    assert out.size == (W, H) and out.mode == "RGB"
    hole = alpha == 0
    assert np.array_equal(np.asarray(out)[~hole], rgb[~hole]) and (np.asarray(out)[hole] != rgb[hole]).any()
    path, _ = make_photo(tmp_path, 40, 30, "opaque.png")
    with pytest.raises(AppError, match="no transparency"):
        client.predict(handle_file(str(path)), api_name="/inpaint_files")


@pytest.mark.slow  # talks to a running server
@pytest.mark.parametrize("crop", ["on", "auto"])
def test_plain_endpoint_crops_a_2400x1600_photo_with_two_small_holes(client, tmp_path, crop):
    width, height = 2400, 1600
    rgb = np.asarray(Image.open(gradio_app.EXAMPLES_DIR / "grace_hopper.jpg").convert("RGB").resize((width, height)))
    Image.fromarray(rgb).save(tmp_path / "big.png")
    hole = np.zeros((height, width), bool)
    hole[500:540, 700:760] = True
    hole[1100:1130, 1600:1700] = True
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "big_mask.png")
    result = client.predict(handle_file(str(tmp_path / "big.png")), handle_file(str(tmp_path / "big_mask.png")),
                            "native", "seamless", crop, 2, api_name="/inpaint_files")
    out = np.asarray(Image.open(result))
    assert out.shape == rgb.shape
    grown = np.zeros_like(hole)
    grown[498:542, 698:762] = True
    grown[1098:1132, 1598:1702] = True
    assert np.array_equal(out[~grown], rgb[~grown])
    assert (out != rgb).any(axis=2)[hole].mean() > 0.9


def test_result_becomes_the_new_photo_with_an_empty_layer_to_paint_on(tmp_path):
    Image.new("RGB", (31, 17)).save(tmp_path / "result.png")
    value, mask_file = gradio_app.result_as_photo(str(tmp_path / "result.png"))
    assert value["background"] == value["composite"] == str(tmp_path / "result.png") and mask_file is None
    (layer,) = value["layers"]  # without a layer the editor drops the next stroke
    assert layer.size == (31, 17) and layer.mode == "RGBA" and not np.asarray(layer).any()
    with pytest.raises(gr.Error, match="no result yet"):
        gradio_app.result_as_photo(None)


@pytest.mark.slow  # talks to a running server
def test_mcp_server_lists_both_endpoints_as_tools(pipeline):
    pytest.importorskip("mcp", reason="gradio[mcp] is not installed")
    demo = gradio_app.build_demo(pipeline)
    try:
        gradio_app.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True, mcp_server=True)
        tools = {tool["name"]: tool for tool in httpx.get(demo.local_url + "gradio_api/mcp/schema", timeout=30).json()}
    finally:
        demo.close()
    assert {"inpaint", "inpaint_files"} <= set(tools), sorted(tools)
    files = tools["inpaint_files"]
    assert "white area of a mask" in files["description"]
    assert "transparent pixels are filled" in json.dumps(files["inputSchema"])


def test_running_out_of_memory_names_the_page_own_ways_out(pipeline, photo, tmp_path):
    import torch

    class Exhausted:
        """The loaded pipeline, except that every run runs out of memory."""

        device = pipeline.device

        def describe(self) -> str:
            return pipeline.describe()

        def __call__(self, *args, **kwargs):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    path, _ = photo
    demo = gradio_app.build_demo(Exhausted())
    try:
        c = serve(demo)
        with pytest.raises(AppError) as info:
            inpaint(c, editor_value(path, [layer_file(tmp_path, rect_hole(10, 10, 60, 60))]))
    finally:
        demo.close()
    message = str(info.value)
    assert "ran out of memory" in message and "crop 'on'" in message and "mode 'resize'" in message
    assert "--" not in message and "chunk" not in message  # only knobs the page has


def test_option_radios_offer_the_core_choices(pipeline):
    from in2 import options

    demo = gradio_app.build_demo(pipeline)
    radios = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Radio)}
    assert [value for _, value in radios["mode"].choices] == list(options.MODES)
    assert [value for _, value in radios["blend"].choices] == list(options.BLENDS)
    assert [value for _, value in radios["crop"].choices] == list(options.CROPS)


# ------------------------------------------------------------------ MCP, plain-API limits, launch errors


def _data_url(image: Image.Image) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _refs_resolve(node, root) -> bool:
    """Every ``$ref`` in a JSON schema points at something that exists from the schema's root."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            target = root
            for part in ref.lstrip("#/").split("/"):
                if not isinstance(target, dict) or part not in target:
                    return False
                target = target[part]
        return all(_refs_resolve(value, root) for value in node.values())
    if isinstance(node, list):
        return all(_refs_resolve(value, root) for value in node)
    return True


@pytest.mark.slow  # talks to a running server
def test_an_mcp_client_fills_a_photo_end_to_end(pipeline, tmp_path):
    pytest.importorskip("mcp", reason="gradio[mcp] is not installed")
    import asyncio
    import base64
    import io

    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    pixels = np.random.default_rng(3).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    hole = rect_hole(10, 12, 30, 36, shape=(40, 48))
    photo, mask = Image.fromarray(pixels), Image.fromarray(hole.astype(np.uint8) * 255)
    photo.save(tmp_path / "p.png")
    demo = gradio_app.build_demo(pipeline)

    async def session_calls(url: str, uploaded: str):
        async with (
            streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = (await session.list_tools()).tools
            calls = [await session.call_tool("inpaint_files", args) for args in (
                {"image": _data_url(photo), "mask": _data_url(mask)},
                {"image": uploaded, "mask": _data_url(mask), "blend": "seamless"},
                {"image": "/etc/hostname", "mask": _data_url(mask)},
            )]
            return tools, calls

    try:
        gradio_app.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True, mcp_server=True)
        with open(tmp_path / "p.png", "rb") as handle:  # Gradio's own upload flow
            stored = httpx.post(demo.local_url + "gradio_api/upload", files=[("files", handle)], timeout=30).json()[0]
        tools, calls = asyncio.run(session_calls(demo.local_url, demo.local_url + "gradio_api/file=" + stored))
    finally:
        demo.close()
    assert [tool.name for tool in tools] == ["inpaint_files"]
    assert all(_refs_resolve(tool.inputSchema, tool.inputSchema) for tool in tools)
    for call in calls[:2]:
        assert not call.isError, call.content
        result = np.asarray(Image.open(io.BytesIO(base64.b64decode(call.content[0].data))).convert("RGB"))
        assert result.shape == pixels.shape and np.array_equal(result[~hole], pixels[~hole])
    assert calls[2].isError and "Other paths and URLs are not read" in calls[2].content[0].text


@pytest.mark.slow  # talks to a running server
@pytest.mark.parametrize("image, grow, expected", [
    (None, 0, "No usable image was sent"),
    ("not a file", 0, "No usable image was sent"),
    ("photo", 1e6, "grow must be from -16 to 64 pixels (the page's slider), got 1e+06"),
])
def test_plain_endpoint_refuses_what_the_page_would_not_take(client, photo, image, grow, expected):
    path, _ = photo
    value = handle_file(str(path)) if image == "photo" else image
    with pytest.raises(AppError, match=re.escape(expected)) as info:
        client.predict(value, None, "native", "none", "auto", grow, api_name="/inpaint_files")
    assert "NoneType" not in str(info.value) and "attribute" not in str(info.value)


@pytest.mark.slow  # talks to a running server
def test_plain_endpoint_takes_cmyk_and_does_not_blame_the_browser_for_large_files(client, tmp_path):
    Image.new("CMYK", (40, 32), (10, 80, 160, 20)).save(tmp_path / "print.jpg")
    Image.fromarray(rect_hole(8, 8, 20, 20, shape=(32, 40)).astype(np.uint8) * 255).save(tmp_path / "m.png")
    result = client.predict(handle_file(str(tmp_path / "print.jpg")), handle_file(str(tmp_path / "m.png")),
                            api_name="/inpaint_files")
    assert Image.open(result).size == (40, 32) and Image.open(result).mode == "RGB"
    Image.new("L", (9000, 8)).save(tmp_path / "wide.png")  # black and beyond the page's size limit
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(tmp_path / "wide.png")), None, api_name="/inpaint_files")
    assert "at most 8192 px per side" in str(info.value) and "browser" not in str(info.value)


def test_a_busy_port_is_one_line_and_exit_code_2(weights, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert gradio_app.main(["--weights", str(weights), "--device", "cpu", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot serve on 127.0.0.1, port {port}" in err and "pass another --port" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_revision_with_bundled_weights_stops_the_demo(capsys):
    assert gradio_app.main(["--revision", "v2", "--device", "cpu"]) == 2
    assert "a revision (v2) picks a version of a Hugging Face repo" in capsys.readouterr().err


@pytest.mark.slow  # talks to a running server
def test_a_mask_that_shrinking_empties_is_an_error_not_a_silent_copy(client, tmp_path):
    pixels = np.random.default_rng(5).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    Image.fromarray(rect_hole(10, 10, 14, 14, shape=(32, 40)).astype(np.uint8) * 255).save(tmp_path / "m.png")
    with pytest.raises(AppError, match="Nothing to fill: shrinking the mask by 16 pixels left nothing of it"):
        client.predict(handle_file(str(tmp_path / "p.png")), handle_file(str(tmp_path / "m.png")), "native", "none",
                       "auto", -16, api_name="/inpaint_files")


# ------------------------------------------------------------------ photos the browser never sends, odd start options

SMALL = (40, 32)  # width, height


def _hole() -> np.ndarray:
    hole = np.zeros(SMALL[::-1], bool)
    hole[10:20, 12:30] = True
    return hole


@pytest.mark.parametrize("kind", ["I;16", "F"])
def test_a_16_bit_or_float_photo_sent_to_inpaint_keeps_its_values(client, tmp_path, kind):
    rng = np.random.default_rng(1)
    if kind == "I;16":
        values = rng.integers(0, 65536, SMALL[::-1]).astype(np.uint16)
        Image.fromarray(values).save(tmp_path / "deep.png")
        photo, expected = tmp_path / "deep.png", values.astype(np.float64)
    else:
        values = rng.random(SMALL[::-1]).astype(np.float32)
        Image.fromarray(values).save(tmp_path / "float.tif")
        photo, expected = tmp_path / "float.tif", values.astype(np.float64) * 65535
    result, _, _, _ = inpaint(client, editor_value(photo, [layer_file(tmp_path, _hole())]))
    out = Image.open(result)
    assert out.size == SMALL and out.mode.startswith("I")  # 16 bits kept (the page writes PNG)
    got = np.asarray(out).astype(np.float64)
    outside = ~_hole()
    assert np.abs(got[outside] - expected[outside]).max() <= 0.5  # exact (float: rounded to 16 bits)


@pytest.mark.parametrize("content", [b"<!doctype html><html><body>hello</body></html>", b""])
def test_a_photo_that_is_not_an_image_is_one_readable_line(client, tmp_path, content):
    page = tmp_path / "page.png"
    page.write_bytes(content)
    with pytest.raises(AppError) as caught:
        inpaint(client, editor_value(page, [layer_file(tmp_path, _hole())]))
    message = str(caught.value)
    assert "not an image PIL can read: page.png" in message or "corrupt or truncated: page.png" in message
    assert "/tmp" not in message and "gradio" not in message.lower()


def test_a_port_out_of_range_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        gradio_app.parse_args(["--port", "70000"])
    assert caught.value.code == 2 and "pass a whole number from 1 to 65535" in capsys.readouterr().err


def test_weights_with_a_bad_config_stop_the_demo_in_one_line(tmp_path, capsys):
    IN2(IN2Config.tiny()).save_pretrained(tmp_path / "w")
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    (tmp_path / "w" / "config.json").write_text(json.dumps(dict(config, num_heads=0)))
    assert gradio_app.main(["--weights", str(tmp_path / "w"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "num_heads must be from 1 to 256, got 0" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_32_bit_photo_beyond_16_bits_is_refused_not_clipped(client, tmp_path):
    values = np.random.default_rng(2).integers(0, 200_000, SMALL[::-1]).astype(np.int32)
    Image.fromarray(values).save(tmp_path / "deep.tif")
    Image.fromarray(_hole().astype(np.uint8) * 255).save(tmp_path / "m.png")
    with pytest.raises(AppError, match="beyond the 0-65535 that PNG stores; the demo returns PNG"):
        client.predict(handle_file(str(tmp_path / "deep.tif")), handle_file(str(tmp_path / "m.png")),
                       api_name="/inpaint_files")
