"""Warm starts (`model.init_from`): same architecture only, the output head reset when the hole input changes."""

from __future__ import annotations

import pytest
import torch

from in2 import IN2, IN2Config
from trainer.models import build_generator


def _export(tmp_path, **overrides) -> str:
    torch.manual_seed(1)
    folder = tmp_path / "src"
    IN2(IN2Config.tiny(**overrides)).save_pretrained(folder)
    return str(folder)


def test_init_from_loads_the_weights(tmp_path):
    source = _export(tmp_path)
    model = build_generator({"type": "in2", "preset": "tiny", "overrides": {}, "init_from": source})
    ref = IN2.from_pretrained(source)
    for (name, a), (_, b) in zip(model.state_dict().items(), ref.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_init_from_other_hole_input_resets_the_head_to_the_prefill(tmp_path):
    source = _export(tmp_path)  # trained for the paper's zero-filled hole
    model = build_generator({"type": "in2", "preset": "tiny", "overrides": {"hole_prefill": "smooth"},
                             "init_from": source})
    ref = IN2.from_pretrained(source)
    for a, b in zip(model.encoder.parameters(), ref.encoder.parameters(), strict=True):
        assert torch.equal(a, b)
    assert model.decoder.to_rgb.weight.abs().sum() == 0 and model.decoder.to_rgb.bias.abs().sum() == 0


def test_init_from_another_architecture_is_refused(tmp_path):
    source = _export(tmp_path)
    with pytest.raises(ValueError, match="another architecture"):
        build_generator({"type": "in2", "preset": "small", "overrides": {}, "init_from": source})
