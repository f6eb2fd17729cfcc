"""in2.weight_files, in2.loader and in2.model_types: saving and strict loading of weights, every refusal,
the offline Hub cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from in2 import IN2, IN2Config, WeightsError, load_model, loader, weight_files
from in2.model_types import build_model, model_class, preset_config

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def model() -> IN2:
    torch.manual_seed(0)
    return IN2(IN2Config.tiny()).eval()


@pytest.fixture()
def saved(model: IN2, tmp_path: Path) -> Path:
    out = tmp_path / "weights"
    model.save_pretrained(out)
    return out


def _outputs(m: IN2) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    image = torch.rand(1, 3, 23, 31, generator=g)
    mask = (torch.rand(1, 1, 23, 31, generator=g) > 0.5).float()
    with torch.no_grad():
        return m(image, mask)


def test_save_writes_config_and_safetensors(saved: Path, model: IN2):
    assert sorted(p.name for p in saved.iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((saved / "config.json").read_text()) == model.config.to_dict()


def test_save_with_a_card_writes_it(model: IN2, tmp_path: Path):
    weight_files.save(model, tmp_path, model.config.to_dict(), card="# tiny\n\nA tiny test model.\n")
    assert (tmp_path / "README.md").read_text() == "# tiny\n\nA tiny test model.\n"
    assert weight_files.locate(tmp_path).card == tmp_path / "README.md"


def test_failed_save_keeps_the_previous_weights(saved: Path, model: IN2, monkeypatch):
    import safetensors.torch

    before = (saved / "model.safetensors").read_bytes()

    def crash_halfway(module, filename, *args, **kwargs):
        Path(filename).write_bytes(b"\x00" * 10)
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_model", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        IN2(model.config).save_pretrained(saved)
    assert (saved / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in saved.iterdir()) == ["config.json", "model.safetensors"]


def test_export_from_before_the_newer_config_fields_loads(saved: Path, model: IN2):
    """Folders exported before hole_prefill / prefill_steps existed load with their defaults."""
    config = model.config.to_dict()
    del config["hole_prefill"], config["prefill_steps"]
    (saved / "config.json").write_text(json.dumps(config))
    loaded = IN2.from_pretrained(saved)
    assert loaded.config.hole_prefill == "zeros"
    torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=0, rtol=0)


def test_export_with_the_older_spelling_of_a_key_loads(saved: Path, model: IN2):
    """config.json files written before the factorised decoder's key was respelt still load."""
    config = model.config.to_dict()
    config["factorized_decoder"] = not config.pop("factorised_decoder")
    (saved / "config.json").write_text(json.dumps(config))
    assert IN2.from_pretrained(saved).config.factorised_decoder is (not model.config.factorised_decoder)


def test_the_loader_builds_the_registered_class_its_config_names(tmp_path: Path):
    from in2.nn.baseline import FFCBaseline

    torch.manual_seed(0)
    original = build_model("ffc_baseline", overrides={"base_channels": 4, "num_blocks": 1})
    weight_files.save(original, tmp_path, loader.export_config(original))
    loaded = loader.load_pretrained(tmp_path, FFCBaseline)
    assert isinstance(loaded, FFCBaseline) and not loaded.training
    assert torch.equal(loaded.encoder[0][0].weight, original.encoder[0][0].weight)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "base_channels": 8}))
    expected = r"has shape \(4, 4, 7, 7\) in the file but the model expects \(8, 4, 7, 7\)"
    with pytest.raises(WeightsError, match=expected):
        loader.load_pretrained(tmp_path, FFCBaseline)


def test_the_registry_builds_presets_and_names_what_it_knows():
    assert preset_config("tiny", hole_prefill="smooth") == IN2Config.tiny(hole_prefill="smooth")
    assert preset_config() == IN2Config() and preset_config("small") == IN2Config.small()
    assert build_model("in2", "tiny").config == IN2Config.tiny()
    with pytest.raises(ValueError, match="unknown IN2 preset 'huge'; use default, small, tiny"):
        preset_config("huge")
    with pytest.raises(WeightsError, match="model_type 'unet'.*known: ffc_baseline, in2"):
        model_class("unet")


@pytest.mark.parametrize(
    "text,ok",
    [
        ("owner/name", True),
        ("in2-test/tiny.face_v2", True),
        ("plain", False),
        ("a/b/c", False),
        ("../x", False),
        ("a/..b", False),
        ("owner/na..me", False),
        ("owner/name.", False),
        ("owner/-", False),
        ("/abs/path", False),
    ],
)
def test_repo_id_rule(text: str, ok: bool):
    assert weight_files.is_repo_id(text) is ok


def test_upload_refuses_a_folder_that_would_not_load(tmp_path: Path):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(WeightsError, match="no config.json"):
        weight_files.upload(tmp_path, "someone/faces")
    with pytest.raises(WeightsError, match="owner/name"):
        weight_files.upload(tmp_path, "not a repo")


def test_importing_the_file_layer_loads_no_heavy_package():
    """ComfyUI imports it while listing nodes; torch, safetensors and the Hub client load on use."""
    code = ("import sys, in2.weight_files, in2.loader; heavy = ('torch', 'safetensors', 'huggingface_hub'); "
            "print([m for m in heavy if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_round_trip_outputs_equal(saved: Path, model: IN2):
    loaded = IN2.from_pretrained(saved)
    assert loaded.config == model.config and not loaded.training
    torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=0, rtol=0)
    # a path to the .safetensors file itself works too
    torch.testing.assert_close(_outputs(IN2.from_pretrained(saved / "model.safetensors")), _outputs(model))


def test_default_config_model_saves_its_config(tmp_path: Path):
    IN2(IN2Config.tiny(na_kernel=5)).save_pretrained(tmp_path)
    assert IN2.from_pretrained(tmp_path).config.na_kernel == 5


def test_fp16_weights_load_into_fp32_model(model: IN2, tmp_path: Path):
    half = IN2(model.config)
    half.load_state_dict(model.state_dict())
    half.half().save_pretrained(tmp_path)
    loaded = IN2.from_pretrained(tmp_path)
    assert next(loaded.parameters()).dtype == torch.float32
    torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=5e-3, rtol=0)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "last.ckpt", "weights.pth"])
def test_pickled_checkpoint_path_refused(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"not even read")
    with pytest.raises(WeightsError, match="safetensors"):
        IN2.from_pretrained(path)


def test_folder_with_only_pickle_refused(model: IN2, tmp_path: Path):
    (tmp_path / "config.json").write_text(json.dumps(model.config.to_dict()))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(WeightsError, match="pytorch_model.bin"):
        IN2.from_pretrained(tmp_path)


def test_missing_keys_named(saved: Path):
    state = load_file(saved / "model.safetensors")
    del state["decoder.to_rgb.weight"], state["encoder.stem.body.1.weight"]
    save_file(state, saved / "model.safetensors")
    with pytest.raises(WeightsError, match=r"2 missing tensor\(s\):.*decoder.to_rgb.weight"):
        IN2.from_pretrained(saved)


def test_unexpected_keys_named(saved: Path):
    state = load_file(saved / "model.safetensors")
    state["extra.head.weight"] = torch.zeros(2)
    save_file(state, saved / "model.safetensors")
    with pytest.raises(WeightsError, match=r"1 unexpected tensor\(s\): extra.head.weight"):
        IN2.from_pretrained(saved)


def test_wrong_shapes_named_with_both_shapes(saved: Path, model: IN2):
    config = {**model.config.to_dict(), "decoder_hidden": 32}
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"decoder.blocks.0.first.weight has shape \(48, 436\) in the file "
                                           r"but the model expects \(32, 436\).*config.json.*does not match"):
        IN2.from_pretrained(saved)


def test_truncated_file(saved: Path):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        IN2.from_pretrained(saved)


def test_garbage_file(saved: Path):
    (saved / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        IN2.from_pretrained(saved)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_not_reported_as_a_corrupt_file(saved: Path):
    from in2 import InputError

    with pytest.raises(InputError, match="not available"):
        IN2.from_pretrained(saved, map_location="cuda")


def test_missing_config(saved: Path):
    (saved / "config.json").unlink()
    with pytest.raises(WeightsError, match="no config.json"):
        IN2.from_pretrained(saved)


def test_unreadable_config(saved: Path):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read"):
        IN2.from_pretrained(saved)


def test_unknown_config_key(saved: Path, model: IN2):
    (saved / "config.json").write_text(json.dumps({**model.config.to_dict(), "window_size": 8}))
    with pytest.raises(WeightsError, match="window_size"):
        IN2.from_pretrained(saved)


def test_empty_directory(tmp_path: Path):
    with pytest.raises(WeightsError, match="no model.safetensors"):
        IN2.from_pretrained(tmp_path)


@pytest.mark.parametrize("name", ["./no/such/dir", "/definitely/not/here", "plainname", "a/b/c"])
def test_nonexistent_path_that_is_not_a_repo_id(name: str, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="repo id"):
        IN2.from_pretrained(name)


# -- the Hub cache, offline -------------------------------------------------------------------

def _populate_cache(cache: Path, repo: str, source: Path,
                    names: tuple[str, ...] = ("config.json", "model.safetensors")) -> None:
    """Lay out a Hugging Face cache entry the way the Hub client leaves it (refs + snapshot)."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    snapshot = folder / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name in names:
        (snapshot / name).write_bytes((source / name).read_bytes())
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(COMMIT)


@pytest.fixture()
def offline_cache(saved: Path, tmp_path: Path, monkeypatch) -> Path:
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hub-cache"
    _populate_cache(cache, "in2-test/tiny-face", saved)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # no request can leave even if one were tried
    return cache


def test_offline_repo_id_from_cache(offline_cache: Path, model: IN2):
    for revision in (None, "main", COMMIT):
        loaded = IN2.from_pretrained("in2-test/tiny-face", revision=revision)
        torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=0, rtol=0)


def test_offline_repo_not_cached(offline_cache: Path):
    with pytest.raises(WeightsError, match="offline"):
        IN2.from_pretrained("in2-test/other-model")


def test_offline_unknown_revision(offline_cache: Path):
    with pytest.raises(WeightsError, match="cache"):
        IN2.from_pretrained("in2-test/tiny-face", revision="v9")


def test_offline_cache_without_the_weights_file(offline_cache: Path, saved: Path):
    _populate_cache(offline_cache, "in2-test/config-only", saved, names=("config.json",))
    with pytest.raises(WeightsError, match="model.safetensors of in2-test/config-only is not in the local"):
        IN2.from_pretrained("in2-test/config-only")


def test_the_card_downloaded_with_the_weights_describes_them(offline_cache: Path, saved: Path):
    (saved / "README.md").write_text("---\nlicense: mit\n---\n# Faces\n\nTiny IN2 for tests.\n")
    _populate_cache(offline_cache, "in2-test/with-card", saved, names=("config.json", "model.safetensors", "README.md"))
    _, info = load_model("in2-test/with-card", revision="main")
    assert (
        info.description == "Tiny IN2 for tests." and info.summary() == "in2-test/with-card @ main: Tiny IN2 for tests."
    )


def test_hub_repo_with_only_a_pickle_is_refused(saved: Path, tmp_path: Path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants as hf_constants

    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "config.json").write_bytes((saved / "config.json").read_bytes())
    asked = {}

    def fake_snapshot_download(**options):  # what the Hub would send: no model.safetensors in the repo
        asked.update(options)
        return str(snapshot)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    with pytest.raises(WeightsError, match=r"someone/faces@v2 has no model.safetensors.*never loads them"):
        IN2.from_pretrained("someone/faces", revision="v2")
    assert asked["revision"] == "v2" and asked["allow_patterns"] == ["config.json", "model.safetensors", "README.md"]


def test_pipeline_from_pretrained_takes_the_models_hub_options(offline_cache: Path, model: IN2, tmp_path: Path):
    """``InpaintPipeline.from_pretrained`` and ``IN2.from_pretrained`` load through one loader, with
    the same Hub options (cache_dir, local_files_only, token)."""
    from in2 import InpaintPipeline

    moved = tmp_path / "elsewhere"
    offline_cache.rename(moved)
    pipe = InpaintPipeline.from_pretrained("in2-test/tiny-face", device="cpu", cache_dir=moved, local_files_only=True,
                                           token=False)
    direct = IN2.from_pretrained("in2-test/tiny-face", cache_dir=moved, local_files_only=True, token=False)
    for a, b in zip(pipe.model.state_dict().values(), direct.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(WeightsError, match="cache"):
        InpaintPipeline.from_pretrained("in2-test/not-there", device="cpu", cache_dir=moved, local_files_only=True)
