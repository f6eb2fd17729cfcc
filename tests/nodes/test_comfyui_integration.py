"""This repo as a custom node pack inside a real ComfyUI server (loopback only).

Needs a ComfyUI checkout: set COMFYUI_DIR (and COMFYUI_PYTHON to its interpreter when that
is not this one). The repo is loaded in place through `--extra-model-paths-config`: a temp
folder holds `custom_nodes/in2` (a link to this repo) and `models/in2/tiny` (a tiny model).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
COMFYUI_PYTHON = os.environ.get("COMFYUI_PYTHON") or sys.executable
REPO = Path(__file__).resolve().parents[2]
API_WORKFLOW = REPO / "example_workflows" / "api" / "in2_face_inpaint_api.json"
START_TIMEOUT = 180
RUN_TIMEOUT = 300

pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.slow,
    pytest.mark.skipif(not COMFYUI_DIR, reason="COMFYUI_DIR is not set (path to a ComfyUI checkout)"),
]


class Server:
    """A ComfyUI process started for these tests, and its HTTP API."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log_path = root / "comfyui.log"
        self.output = root / "output"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        for name in ("output", "input", "user", "temp", "custom_nodes"):
            (self.root / name).mkdir(exist_ok=True)
        (self.root / "custom_nodes" / "in2").symlink_to(REPO, target_is_directory=True)
        config = self.root / "extra_model_paths.yaml"
        config.write_text(
            f"in2_tests:\n  base_path: {self.root}\n  custom_nodes: custom_nodes\n  in2: models/in2\n"
            "  inpaint: models/inpaint\n",
            encoding="utf-8",
        )
        command = [
            COMFYUI_PYTHON, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--disable-auto-launch", "--extra-model-paths-config", str(config),
            "--output-directory", str(self.output), "--input-directory", str(self.root / "input"),
            "--temp-directory", str(self.root / "temp"), "--user-directory", str(self.root / "user"),
            "--database-url", "sqlite:///:memory:",
        ]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        env["HF_HUB_OFFLINE"] = "1"
        self.log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by stop(), it outlives this call
        self.process = subprocess.Popen(command, cwd=COMFYUI_DIR, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"ComfyUI exited with {self.process.returncode}:\n{self.log_text()[-4000:]}")
            try:
                self.get("/system_stats")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT}s:\n{self.log_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str) -> object:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def post_json(self, path: str, payload: object) -> object:
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body.strip() else None

    def upload(self, path: Path) -> str:
        """POST /upload/image (multipart); returns the name LoadImage takes."""
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: image/png\r\n\r\n"
        ).encode() + path.read_bytes() + (
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue\r\n--{boundary}--\r\n"
        ).encode()
        request = urllib.request.Request(self.url + "/upload/image", data=body,
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        return answer["name"] if not answer.get("subfolder") else f"{answer['subfolder']}/{answer['name']}"

    def run(self, prompt: dict) -> dict:
        """Queue an API-format graph and wait for its history entry."""
        prompt_id = self.post_json("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history:
                return history[prompt_id]
            time.sleep(0.5)
        pytest.fail(f"prompt did not finish within {RUN_TIMEOUT}s:\n{self.log_text()[-4000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _photo_with_hole(width: int, height: int, hole: tuple[int, int, int, int]) -> tuple[Image.Image, np.ndarray]:
    """An RGBA picture whose transparent box is the area to fill (LoadImage's MASK = 1 - alpha)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) % 256], -1).astype(np.int16)
    rgb = np.clip(rgb + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    alpha = np.full((height, width), 255, np.uint8)
    top, bottom, left, right = hole
    alpha[top:bottom, left:right] = 0
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), rgb


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from in2 import IN2, IN2Config

    root = tmp_path_factory.mktemp("comfyui")
    IN2(IN2Config.tiny()).save_pretrained(root / "models" / "in2" / "tiny")
    IN2(IN2Config.tiny()).save_pretrained(root / "models" / "inpaint" / "beside-lama")  # the shared folder
    started = Server(root)
    try:
        started.start()
        yield started
    finally:
        started.stop()


def _prompt(image_name: str, mask_image_name: str | None = None) -> dict:
    prompt = json.loads(API_WORKFLOW.read_text())
    loader = next(n for n in prompt.values() if n["class_type"] == "IN2_LoadModel")
    loader["inputs"]["model"] = "tiny"
    load_image = next(k for k, n in prompt.items() if n["class_type"] == "LoadImage")
    prompt[load_image]["inputs"]["image"] = image_name
    if mask_image_name is not None:
        prompt["90"] = {"class_type": "LoadImage", "inputs": {"image": mask_image_name}}
        inpaint = next(n for n in prompt.values() if n["class_type"] == "IN2_Inpaint")
        inpaint["inputs"]["mask"] = ["90", 1]
    return prompt


def test_nodes_load_without_import_errors(server):
    info = server.get("/object_info")
    assert {"IN2_LoadModel", "IN2_Inpaint"} <= set(info)
    assert info["IN2_LoadModel"]["input"]["required"]["model"][0] == "COMBO"  # V3 combos list their options
    assert {"tiny", "beside-lama"} <= set(info["IN2_LoadModel"]["input"]["required"]["model"][1]["options"])
    assert info["IN2_LoadModel"]["output"] == ["IN2_MODEL"]
    inpaint = info["IN2_Inpaint"]
    assert inpaint["output"] == ["IMAGE", "MASK"] and inpaint["output_name"] == ["image", "filled mask"]
    assert inpaint["input"]["optional"]["crop"][1]["options"] == ["auto", "off", "on"]
    assert inpaint["input"]["optional"]["crop"][1]["default"] == "auto"
    assert {"context", "grow", "fill_holes", "threshold"} <= set(inpaint["input"]["optional"])
    for node_id in ("IN2_LoadModel", "IN2_Inpaint"):  # V3 schema, tooltips kept
        assert info[node_id]["python_module"].startswith("custom_nodes.")
        for group in info[node_id]["input"].values():
            for name, (_, options) in group.items():
                assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"
    log = server.log_text()
    ours = [line for line in log.splitlines()
            if ("IMPORT FAILED" in line or "Cannot import" in line) and "in2" in line.split("custom_nodes")[-1]]
    assert not ours, "\n".join(ours)
    assert "IN2 nodes are unavailable" not in log
    assert "in2_face_inpaint" in server.get("/workflow_templates").get("in2", [])


def test_the_front_end_finds_the_node_help_pages_and_the_workflow_thumbnail(server):
    """The paths ComfyUI's front end asks for: the help page of each node and the template's picture."""
    for node_id in ("IN2_LoadModel", "IN2_Inpaint"):
        with urllib.request.urlopen(f"{server.url}/extensions/in2/docs/{node_id}.md", timeout=30) as response:
            assert response.read().decode().startswith("# IN2 ")
    thumbnail = f"{server.url}/api/workflow_templates/in2/in2_face_inpaint.jpg"
    with urllib.request.urlopen(thumbnail, timeout=30) as response:
        assert response.read(3) == b"\xff\xd8\xff"  # a JPEG


def test_example_workflow_inpaints_at_native_size(server, tmp_path):
    hole = (200, 290, 250, 380)
    picture, rgb = _photo_with_hole(601, 517, hole)
    picture.save(tmp_path / "face_601x517.png")
    result = server.run(_prompt(server.upload(tmp_path / "face_601x517.png")))
    assert result["status"]["status_str"] == "success", json.dumps(result["status"])[-3000:]
    saved = next(n for n in result["outputs"].values() if "images" in n)["images"][0]
    out = np.asarray(Image.open(server.output / saved["subfolder"] / saved["filename"]).convert("RGB"))
    assert out.shape == (517, 601, 3)
    top, bottom, left, right = hole
    outside = np.ones((517, 601), bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(out[outside], rgb[outside])
    assert not np.array_equal(out[~outside], rgb[~outside])


@pytest.mark.parametrize("crop", ["on", "auto"])
def test_2400x1600_photo_with_two_small_holes_is_cropped_per_hole(server, tmp_path, crop):
    width, height = 2400, 1600
    rgb = np.asarray(Image.open(REPO / "examples" / "grace_hopper.jpg").convert("RGB").resize((width, height)))
    alpha = np.full((height, width), 255, np.uint8)
    alpha[500:540, 700:760] = 0
    alpha[1100:1130, 1600:1700] = 0
    hole = alpha == 0
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "big.png")
    prompt = _prompt(server.upload(tmp_path / "big.png"))
    inpaint_id = next(k for k, n in prompt.items() if n["class_type"] == "IN2_Inpaint")
    prompt[inpaint_id]["inputs"].update(crop=crop, grow=2)
    prompt["91"] = {"class_type": "MaskToImage", "inputs": {"mask": [inpaint_id, 1]}}
    prompt["92"] = {"class_type": "SaveImage", "inputs": {"images": ["91", 0], "filename_prefix": "IN2/filled_mask"}}
    result = server.run(prompt)
    assert result["status"]["status_str"] == "success", json.dumps(result["status"])[-3000:]
    saved = {}
    for node_id, node in result["outputs"].items():
        if "images" in node:
            image = node["images"][0]
            saved[node_id] = np.asarray(
                Image.open(server.output / image["subfolder"] / image["filename"]).convert("RGB")
            )
    out, filled = saved["4"], saved["92"][..., 0] >= 128
    assert out.shape == (height, width, 3) and filled.shape == (height, width)
    assert bool(filled[hole].all()) and bool(filled[498, 730]) and not bool(filled[496, 730])  # grown by 2
    assert np.array_equal(out[~filled], rgb[~filled])
    assert (out != rgb).any(axis=2)[hole].mean() > 0.9


def test_mismatched_mask_is_an_execution_error_naming_both_sizes(server, tmp_path):
    _photo_with_hole(601, 517, (10, 20, 10, 20))[0].save(tmp_path / "photo.png")
    _photo_with_hole(300, 200, (10, 20, 10, 20))[0].save(tmp_path / "small_mask.png")
    result = server.run(_prompt(server.upload(tmp_path / "photo.png"), server.upload(tmp_path / "small_mask.png")))
    assert result["status"]["status_str"] == "error"
    kind, details = result["status"]["messages"][-1]
    assert kind == "execution_error" and details["node_type"] == "IN2_Inpaint"
    assert "300x200" in details["exception_message"] and "601x517" in details["exception_message"]


def test_cancel_stops_a_long_inpaint(server, tmp_path):
    """POST /interrupt (the Cancel button) while IN2 Inpaint runs ends it with execution_interrupted."""
    _photo_with_hole(1600, 1600, (400, 1200, 400, 1200))[0].save(tmp_path / "large.png")
    name = server.upload(tmp_path / "large.png")
    warm = _prompt(name)
    inpaint = next(n for n in warm.values() if n["class_type"] == "IN2_Inpaint")
    inpaint["inputs"].update(crop="on", mode="resize")
    assert server.run(warm)["status"]["status_str"] == "success"  # Load Image / Load Model are now cached

    long_run = _prompt(name)  # native mode on 2.56 MP: only IN2 Inpaint (and Save Image) left to execute
    next(n for n in long_run.values() if n["class_type"] == "IN2_Inpaint")["inputs"]["crop"] = "off"
    prompt_id = server.post_json("/prompt", {"prompt": long_run, "client_id": uuid.uuid4().hex})["prompt_id"]
    deadline = time.monotonic() + 60
    while not server.get("/queue")["queue_running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    server.post_json("/interrupt", {})
    started = time.monotonic()
    while time.monotonic() - started < RUN_TIMEOUT:
        history = server.get(f"/history/{prompt_id}")
        if prompt_id in history:
            break
        time.sleep(0.5)
    messages = dict(history[prompt_id]["status"]["messages"])
    assert "execution_interrupted" in messages, history[prompt_id]["status"]
    assert messages["execution_interrupted"]["node_type"] == "IN2_Inpaint"


def _chromium() -> str | None:
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"):
        if Path(path).exists():
            return path
    return None


def test_ui_workflow_template_converts_to_the_api_twin(server):
    """ComfyUI's own frontend loads the template and turns it into exactly the API-format twin."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium at /usr/bin (install Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server.url)
            page.wait_for_function("window.app && window.app.graph", timeout=120_000)
            page.wait_for_timeout(2000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            result = page.evaluate(
                """async () => {
                    const workflow = await (await fetch('/api/workflow_templates/in2/in2_face_inpaint.json')).json();
                    await window.app.loadGraphData(workflow);
                    const missing = window.app.graph._nodes
                        .filter(node => !LiteGraph.registered_node_types[node.type]).map(node => node.type);
                    return {prompt: (await window.app.graphToPrompt()).output, missing};
                }"""
            )
        finally:
            browser.close()
    assert result["missing"] == [] and errors == []
    twin = json.loads(API_WORKFLOW.read_text())

    def strip(graph: dict) -> dict:
        return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in graph.items()}

    assert strip(result["prompt"]) == strip(twin)
