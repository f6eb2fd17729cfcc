"""Which weights load_model picks, and what it tells about them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import in2.loader as weights
from in2 import IN2, IN2Config, InpaintPipeline, WeightsError, load_model
from in2.loader import WeightsInfo, model_card_summary


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny())
    model.save_pretrained(folder)
    return folder, model


def test_no_bundled_weights_says_so_and_how_to_get_some(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "DEMO_WEIGHTS_DIR", tmp_path / "demo_weights")
    with pytest.raises(WeightsError) as info:
        load_model()
    message = str(info.value)
    assert "no trained IN2 weights are bundled" in message and "published" in message
    assert "accelerate launch trainer/train.py --config trainer/configs/" in message
    assert "--weights DIR_OR_REPO_ID" in message
    with pytest.raises(WeightsError, match="no trained IN2 weights"):
        InpaintPipeline.from_pretrained()


def test_folder_loads_the_same_model(saved):
    folder, original = saved
    model, info = load_model(folder)
    assert isinstance(model, IN2) and not model.training
    for (name, a), (_, b) in zip(original.state_dict().items(), model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert info == WeightsInfo(source=str(folder), revision=None, is_demo=False, description="")
    assert info.summary() == str(folder)


def test_bundled_demo_weights_are_used_when_present(saved, tmp_path, monkeypatch):
    folder, _ = saved
    demo = tmp_path / "demo_weights"
    demo.mkdir()
    for name in ("config.json", "model.safetensors"):
        (demo / name).write_bytes((folder / name).read_bytes())
    (demo / "README.md").write_text(
        "---\nlicense: mit\n---\n# IN2 demo\n\n![grid](grid.png)\n\nA small IN2 trained on\n"
        "[FFHQ](https://example.org) faces for the demo.\n\nSecond paragraph.\n"
    )
    monkeypatch.setattr(weights, "DEMO_WEIGHTS_DIR", demo)
    _, info = load_model()
    assert info.is_demo and info.description == "A small IN2 trained on FFHQ faces for the demo."
    pipe = InpaintPipeline.from_pretrained(device="cpu")
    assert "bundled demo weights: A small IN2 trained on FFHQ faces" in pipe.describe()


def test_weight_errors_come_from_the_model_loader(tmp_path):
    with pytest.raises(WeightsError):
        load_model(tmp_path / "missing-folder")


def test_model_card_summary_skips_boilerplate_and_truncates():
    mixin_card = (
        "---\nlibrary_name: in2\n---\n\nThis model has been pushed to the Hub using the "
        "[PytorchModelHubMixin](https://hf.co) integration:\n- Code: x\n"
    )
    assert model_card_summary(mixin_card) == ""
    long = "word " * 100
    summary = model_card_summary(long, limit=50)
    assert len(summary) <= 50 and summary.endswith("...")
    sentences = "A small model (2.3M parameters) trained on faces. Its last stage drew eyes. " + "More. " * 40
    assert model_card_summary(sentences, limit=70) == "A small model (2.3M parameters) trained on faces."
    assert model_card_summary(sentences, limit=80) == (
        "A small model (2.3M parameters) trained on faces. Its last stage drew eyes.")


def test_a_revision_with_local_or_bundled_weights_is_refused_not_ignored(saved):
    folder, _ = saved
    with pytest.raises(
        WeightsError, match=rf"a revision \(v2\) picks a version of a Hugging Face repo, but {folder} is a local path"
    ):
        load_model(folder, revision="v2")
    with pytest.raises(WeightsError, match="the bundled demo weights are used as they are"):
        load_model(None, revision="v2")


def test_the_bundled_weights_are_described_in_whole_sentences():
    """The demo page and the CLI show this line: it must not stop mid-sentence ("Its...")."""
    from in2.loader import DEMO_WEIGHTS_DIR

    summary = model_card_summary((Path(DEMO_WEIGHTS_DIR) / "README.md").read_text(encoding="utf-8"))
    assert summary.endswith(".") and not summary.endswith("...") and "4.5 MB" in summary
