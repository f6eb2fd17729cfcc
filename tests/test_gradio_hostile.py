"""The demo given photos the browser never sends (16-bit and float, not an image at all) and odd
start options: the values survive, every refusal is a readable line without server paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

gr = pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from gradio_client.exceptions import AppError  # noqa: E402

import gradio_app  # noqa: E402
from in2 import IN2, IN2Config  # noqa: E402
from test_gradio_app import client, editor_value, inpaint, layer_file, pipeline, weights  # noqa: E402,F401

SIZE = (40, 32)  # width, height


def _hole() -> np.ndarray:
    hole = np.zeros(SIZE[::-1], bool)
    hole[10:20, 12:30] = True
    return hole


@pytest.mark.parametrize("kind", ["I;16", "F"])
def test_a_16_bit_or_float_photo_sent_to_inpaint_keeps_its_values(client, tmp_path, kind):
    rng = np.random.default_rng(1)
    if kind == "I;16":
        values = rng.integers(0, 65536, SIZE[::-1]).astype(np.uint16)
        Image.fromarray(values).save(tmp_path / "deep.png")
        photo, expected = tmp_path / "deep.png", values.astype(np.float64)
    else:
        values = rng.random(SIZE[::-1]).astype(np.float32)
        Image.fromarray(values).save(tmp_path / "float.tif")
        photo, expected = tmp_path / "float.tif", values.astype(np.float64) * 65535
    result, _, _, _ = inpaint(client, editor_value(photo, [layer_file(tmp_path, _hole())]))
    out = Image.open(result)
    assert out.size == SIZE and out.mode.startswith("I")  # 16 bits kept (the page writes PNG)
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
    assert "num_heads must be from 1 to 256, got 0" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert torch.get_num_threads() >= 1


def test_a_32_bit_photo_beyond_16_bits_is_refused_not_clipped(client, tmp_path):
    from gradio_client import handle_file

    values = np.random.default_rng(2).integers(0, 200_000, SIZE[::-1]).astype(np.int32)
    Image.fromarray(values).save(tmp_path / "deep.tif")
    Image.fromarray(_hole().astype(np.uint8) * 255).save(tmp_path / "m.png")
    with pytest.raises(AppError, match="beyond the 0-65535 that PNG stores; the demo returns PNG"):
        client.predict(handle_file(str(tmp_path / "deep.tif")), handle_file(str(tmp_path / "m.png")),
                       api_name="/inpaint_files")
