"""The choices every surface offers, and the advice they give when memory runs out."""

from __future__ import annotations

import pytest
import torch

from in2 import options
from in2.options import DTYPES, memory_advice, python_setting


def test_precisions_by_name_alias_and_device():
    assert options.DTYPE_CHOICES == ("auto", "fp32", "fp16", "bf16")
    assert [options.canonical_dtype(n) for n in ("float32", " Half ", "bfloat16", "bf16", "int8")] == [
        "fp32", "fp16", "bf16", "bf16", "int8"]
    assert {options.dtype_name(d): d for d in DTYPES.values()} == DTYPES
    assert options.runs_on(torch.bfloat16, "cpu") and not options.runs_on(torch.float16, "cpu")
    assert options.runs_on(torch.float16, "cuda") and not options.runs_on(torch.int8, "cuda")


def test_memory_advice_names_only_the_settings_a_surface_offers():
    everything = memory_advice()
    for flag in ("--crop on", "--context", "--mode resize", "--chunk-size", "--device cuda"):
        assert flag in everything
    page = memory_advice(lambda name, value: f"{name} '{value}'", offered=("crop", "mode"))
    assert "crop 'on'" in page and "mode 'resize'" in page and "smaller image" in page
    assert "context" not in page and "chunk" not in page and "device" not in page
    assert memory_advice(python_setting, offered=()) == "a smaller image"
    assert "crop='on'" in memory_advice(python_setting)
    assert options.OUT_OF_MEMORY.format(where=" a.png").startswith("out of memory while inpainting a.png: ")


def test_out_of_memory_errors_catch_host_and_device_failures():
    caught = options.out_of_memory_errors()
    for error in (MemoryError(), torch.OutOfMemoryError("CUDA out of memory")):
        with pytest.raises(caught):
            raise error


def test_every_surface_accepts_each_choice_and_refuses_others():
    import gradio_app
    from in2 import cli

    parser = cli.build_parser()
    base = ["inpaint", "photo.png", "mask.png", "-o", "out.png"]
    for flag, names in (("--mode", options.MODES), ("--blend", options.BLENDS), ("--crop", options.CROPS),
                        ("--dtype", options.DTYPE_CHOICES)):
        for name in names:
            assert getattr(parser.parse_args([*base, flag, name]), flag[2:]) == name
        with pytest.raises(SystemExit):
            parser.parse_args([*base, flag, "bogus"])
    for name in options.DTYPE_CHOICES:
        assert gradio_app.parse_args(["--dtype", name]).dtype == name
    with pytest.raises(SystemExit):
        gradio_app.parse_args(["--dtype", "int8"])
