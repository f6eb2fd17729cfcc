"""Weights folders edited by hand or damaged: every config.json value is checked before anything is
built, non-finite weights are refused, odd arguments get a one-line error, nothing hangs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from in2 import IN2, IN2Config, InpaintPipeline, InputError, WeightsError


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    IN2(IN2Config.tiny()).save_pretrained(tmp_path / "w")
    return tmp_path / "w"


def _edit(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("changes,message", [
    ({"num_heads": 0}, "num_heads must be from 1 to 256, got 0"),
    ({"num_heads": "2"}, "num_heads must be a whole number, got '2'"),
    ({"body_dim": -48}, "body_dim must be from 1 to 2048"),
    ({"body_dim": 10**12}, "body_dim must be from 1 to 2048"),
    ({"decoder_hidden": 2.5}, "decoder_hidden must be a whole number"),
    ({"prefill_steps": 1_000_000_000, "hole_prefill": "smooth"}, "prefill_steps must be from 0 to 1024"),
    ({"mlp_ratio": None}, "mlp_ratio must be a number"),
    ({"factorised_decoder": "yes"}, "factorised_decoder must be a bool"),
    ({"factorized_decoder": "yes"}, "factorised_decoder must be a bool"),  # the older spelling, renamed on load
    ({"in_channels": 5}, "in_channels must be from 4 to 4"),
])
def test_every_config_value_is_bounded_before_anything_is_built(saved, changes, message):
    _edit(saved, **changes)
    start = time.perf_counter()
    with pytest.raises(WeightsError, match="invalid IN2 config") as caught:
        IN2.from_pretrained(saved)
    assert message in str(caught.value) and time.perf_counter() - start < 5


def test_a_whole_float_in_config_json_is_the_whole_number(saved):
    _edit(saved, body_dim=48.0, num_heads=2.0)
    model = IN2.from_pretrained(saved)
    assert model.config.body_dim == 48 and type(model.config.body_dim) is int


def test_in2config_refuses_zero_heads_with_a_value_error():
    with pytest.raises(ValueError, match="num_heads must be from 1"):
        IN2Config(num_heads=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_with_non_finite_values_are_refused(saved, bad):
    state = load_file(str(saved / "model.safetensors"))
    name = next(k for k, t in state.items() if t.is_floating_point() and t.numel() > 1)
    state[name][0] = bad
    save_file(state, str(saved / "model.safetensors"))
    with pytest.raises(WeightsError, match="NaN or infinite values in 1 tensor"):
        InpaintPipeline.from_pretrained(saved, device="cpu")


def test_a_device_given_as_a_number_is_read_as_a_cuda_index(saved):
    expected = "not available" if not torch.cuda.is_available() else "does not exist"
    with pytest.raises(InputError, match=expected):
        IN2.from_pretrained(saved, map_location=99)
    with pytest.raises(InputError, match=expected):
        InpaintPipeline.from_pretrained(saved, device=7 if not torch.cuda.is_available() else 99)
    with pytest.raises(InputError, match="device must be"):
        InpaintPipeline.from_pretrained(saved, device=2.5)


@pytest.mark.parametrize("changes,message", [({"num_down": 40}, "num_down must be a whole number from 1 to 5"),
                                             ({"base_channels": -1}, "base_channels must be"),
                                             ({"ffc_ratio": "0.5"}, "ffc_ratio must be a number")])
def test_the_baseline_config_is_bounded_too(tmp_path, changes, message):
    from in2 import load_model, weight_files
    from in2.loader import export_config
    from in2.nn.baseline import FFCBaseline, FFCBaselineConfig

    model = FFCBaseline(FFCBaselineConfig(base_channels=4, num_down=2, num_blocks=1))
    weight_files.save(model, tmp_path / "b", export_config(model))
    load_model(str(tmp_path / "b"))  # as saved: fine
    _edit(tmp_path / "b", **changes)
    with pytest.raises(WeightsError, match=message):
        load_model(str(tmp_path / "b"))
