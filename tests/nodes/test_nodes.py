"""The ComfyUI nodes, called as ComfyUI calls them, without ComfyUI.

ComfyUI's own modules (`folder_paths`, `comfy.*`) are replaced by small fakes in
`sys.modules`; the repo root is imported as a package the way ComfyUI's loader does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch

from in2 import IN2, IN2Config
from in2.errors import InputError, WeightsError
from in2.options import DTYPE_CHOICES
from in2.runtime import resolve_dtype

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "example_workflows"


# --------------------------------------------------------------------------- fakes


def fake_folder_paths(models_dir: Path, existing: dict[str, list[str]] | None = None) -> types.ModuleType:
    """The part of ComfyUI's folder_paths the nodes use, with its extend-not-replace semantics."""
    fp = types.ModuleType("folder_paths")
    fp.models_dir = str(models_dir)
    fp.folder_names_and_paths = {k: (list(v), set()) for k, v in (existing or {}).items()}

    def add_model_folder_path(name: str, path: str, is_default: bool = False) -> None:
        if name in fp.folder_names_and_paths:
            paths = fp.folder_names_and_paths[name][0]
            if path not in paths:
                paths.insert(0, path) if is_default else paths.append(path)
        else:
            fp.folder_names_and_paths[name] = ([path], set())

    fp.add_model_folder_path = add_model_folder_path
    fp.get_folder_paths = lambda name: list(fp.folder_names_and_paths[name][0])
    return fp


class FakeComfy:
    """comfy.model_management / comfy.model_patcher / comfy.utils, recording what the nodes do."""

    def __init__(self) -> None:
        self.loaded: list[object] = []
        self.bars: list[object] = []
        self.interrupt = False
        self.interrupt_checks = 0
        outer = self

        mm = types.ModuleType("comfy.model_management")
        mm.get_torch_device = lambda: torch.device("cpu")
        mm.unet_offload_device = lambda: torch.device("cpu")
        mm.load_models_gpu = lambda models, **kw: outer.loaded.extend(models)

        class Interrupted(Exception):
            pass

        def throw_exception_if_processing_interrupted() -> None:
            outer.interrupt_checks += 1
            if outer.interrupt:
                raise Interrupted()

        mm.InterruptProcessingException = Interrupted
        mm.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted

        patcher = types.ModuleType("comfy.model_patcher")

        class ModelPatcher:
            def __init__(self, model, load_device, offload_device):
                self.model, self.load_device, self.offload_device = model, load_device, offload_device

        patcher.ModelPatcher = ModelPatcher

        utils = types.ModuleType("comfy.utils")

        class ProgressBar:
            def __init__(self, total):
                self.total, self.current, self.updates = total, 0, []
                outer.bars.append(self)

            def update_absolute(self, value, total=None, preview=None):
                self.current = value
                self.updates.append(value)

        utils.ProgressBar = ProgressBar
        self.modules = {"comfy": types.ModuleType("comfy"), "comfy.model_management": mm,
                        "comfy.model_patcher": patcher, "comfy.utils": utils}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pack():
    """The repo imported as ComfyUI imports a custom node folder (by its __init__.py)."""
    name = "in2_custom_node_under_test"
    spec = importlib.util.spec_from_file_location(name, REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny") / "tiny"
    IN2(IN2Config.tiny()).save_pretrained(folder)
    return folder


@pytest.fixture
def models_dir(tmp_path, tiny_dir, monkeypatch) -> Path:
    """A ComfyUI models/ folder with models/in2/tiny, visible through a fake folder_paths."""
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_dir, models / "in2" / "tiny")
    monkeypatch.setitem(sys.modules, "folder_paths", fake_folder_paths(models))
    return models


@pytest.fixture(scope="module")
def model(pack, tiny_dir):
    """An IN2_MODEL as IN2_LoadModel returns it (module-wide: loading is the slow part)."""
    fp = fake_folder_paths(tiny_dir.parent.parent, {"in2": [str(tiny_dir.parent)]})
    saved = sys.modules.get("folder_paths")
    sys.modules["folder_paths"] = fp
    try:
        loaded = pack.nodes.load_in2_model("tiny", "", "main", "cpu", "fp32")
    finally:
        if saved is None:
            sys.modules.pop("folder_paths", None)
        else:
            sys.modules["folder_paths"] = saved
    return loaded


@pytest.fixture
def inpaint(pack):
    return pack.nodes.run_inpaint


def comfy_image(batch: int = 1, height: int = 37, width: int = 45, channels: int = 3, seed: int = 1) -> torch.Tensor:
    """A ComfyUI IMAGE: [B,H,W,C] float32 in [0,1]."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, height, width, channels, generator=gen)


def box_mask(height: int = 37, width: int = 45, value: float = 1.0) -> torch.Tensor:
    """A ComfyUI MASK [1,H,W] with a rectangle set to `value`."""
    mask = torch.zeros(1, height, width)
    mask[:, 10:22, 12:30] = value
    return mask


def assert_kept_outside(out: torch.Tensor, image: torch.Tensor, hole: torch.Tensor) -> None:
    """Every pixel where `hole` ([H,W] or [B,H,W] bool) is False is bit-identical."""
    hole = hole.expand(out.shape[0], -1, -1) if hole.ndim == 2 else hole
    assert torch.equal(out[~hole], image[~hole])


# --------------------------------------------------------------------------- registration


def test_pack_offers_the_v3_entry_point_only(pack):
    """ComfyUI ignores `comfy_entrypoint` when a pack also exports NODE_CLASS_MAPPINGS."""
    import inspect

    assert inspect.iscoroutinefunction(pack.comfy_entrypoint)
    assert not hasattr(pack, "NODE_CLASS_MAPPINGS") and not hasattr(pack.nodes, "NODE_CLASS_MAPPINGS")
    assert pack.nodes.NODE_IDS == ("IN2_LoadModel", "IN2_Inpaint")


def fake_comfy_api() -> dict[str, types.ModuleType]:
    """`comfy_api.latest` reduced to recording what a schema declares: each input and output a dict."""

    class Kind:
        def __init__(self, name: str) -> None:
            self.name = name

        def Input(self, id: str, **options):
            return {"id": id, "kind": self.name, **options}

        def Output(self, id: str, **options):
            return {"id": id, "kind": self.name, **options}

    io = types.SimpleNamespace(Schema=lambda **schema: schema, ComfyNode=object, Custom=Kind,
                               NodeOutput=lambda *values: values)
    for name in ("Combo", "String", "Image", "Mask", "Boolean", "Float", "Int"):
        setattr(io, name, Kind(name))
    latest = types.ModuleType("comfy_api.latest")
    latest.io, latest.ComfyExtension = io, object
    return {"comfy_api": types.ModuleType("comfy_api"), "comfy_api.latest": latest}


def test_entry_point_declares_both_nodes_with_the_core_choices(pack, tiny_dir, monkeypatch):
    import asyncio

    from in2 import options

    monkeypatch.setitem(sys.modules, "folder_paths",
                        fake_folder_paths(tiny_dir.parent.parent, {"in2": [str(tiny_dir.parent)]}))
    for name, module in fake_comfy_api().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, f"{pack.__name__}.nodes.schema", raising=False)
    nodes = asyncio.run(asyncio.run(pack.comfy_entrypoint()).get_node_list())
    schemas = {schema["node_id"]: schema for schema in (node.define_schema() for node in nodes)}
    assert tuple(schemas) == pack.nodes.NODE_IDS
    combos = {i["id"]: i for schema in schemas.values() for i in schema["inputs"] if i["kind"] == "Combo"}
    for name, choices in (("mode", options.MODES), ("blend", options.BLENDS), ("crop", options.CROPS),
                          ("dtype", options.DTYPE_CHOICES)):
        assert tuple(combos[name]["options"]) == choices and combos[name]["default"] in choices
    assert "tiny" in combos["model"]["options"]


@pytest.mark.parametrize("saved, refused", [
    (REPO / "tests" / "data" / "in2_face_inpaint_before_v3.json", True),  # crop_to_mask, crop_padding
    (WORKFLOWS / "in2_face_inpaint.json", False),
])
def test_a_saved_workflow_keeps_every_widget_in_place_or_is_refused(pack, tiny_dir, monkeypatch, saved, refused):
    """The frontend fills a node's widgets from the saved values by position; a workflow saved
    before the V3 nodes would put its crop_to_mask and crop_padding into crop and context."""
    import asyncio

    monkeypatch.setitem(sys.modules, "folder_paths",
                        fake_folder_paths(tiny_dir.parent.parent, {"in2": [str(tiny_dir.parent)]}))
    for name, module in fake_comfy_api().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, f"{pack.__name__}.nodes.schema", raising=False)
    node = next(n for n in asyncio.run(asyncio.run(pack.comfy_entrypoint()).get_node_list())
                if n.define_schema()["node_id"] == "IN2_Inpaint")
    widgets = [i["id"] for i in node.define_schema()["inputs"] if i["kind"] not in ("IN2_MODEL", "Image", "Mask")]
    values = next(n["widgets_values"] for n in json.loads(saved.read_text())["nodes"] if n["type"] == "IN2_Inpaint")
    loaded = dict(zip(widgets, values, strict=False))  # an older workflow holds other values: the case under test
    verdict = node.validate_inputs(**{k: v for k, v in loaded.items() if k in ("crop", "context")})
    if refused:
        assert isinstance(verdict, str) and "saved with an older IN2" in verdict
        assert "set crop (auto, off or on), context (1 to 16), grow, fill_holes and threshold again" in verdict
    else:
        assert verdict is True and len(values) == len(widgets)


def test_image_tooltip_states_the_cpu_limit_from_the_core(pack):
    from in2 import runtime

    limit = runtime.max_pixels(torch.device("cpu"))
    hint = pack.nodes.inpaint.cpu_size_hint()
    if limit:
        assert f"{limit / 1e6:.1f} MP" in hint
    else:
        assert hint == ""


def test_import_without_comfyui_and_without_optional_packages(tmp_path, tiny_dir):
    """No ComfyUI, no safetensors / huggingface_hub / natten: the nodes still register and
    explain the missing package when used."""
    script = textwrap.dedent(
        f"""
        import importlib.util, sys, types
        BLOCKED = ("safetensors", "huggingface_hub", "natten", "folder_paths", "comfy")

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Block())
        spec = importlib.util.spec_from_file_location(
            "pack", {str(REPO / "__init__.py")!r}, submodule_search_locations=[{str(REPO)!r}])
        pack = importlib.util.module_from_spec(spec)
        sys.modules["pack"] = pack
        spec.loader.exec_module(pack)
        print("NODES", pack.nodes.NODE_IDS, callable(pack.comfy_entrypoint))
        # the models folder, as ComfyUI would register it (ComfyUI itself is blocked here)
        fp = types.ModuleType("folder_paths_stub")
        fp.models_dir = {str(tmp_path)!r}
        fp.folder_names_and_paths = {{"in2": ([{str(tiny_dir.parent)!r}], set())}}
        fp.get_folder_paths = lambda name: list(fp.folder_names_and_paths[name][0])
        pack.nodes.comfy_bridge.folder_paths = lambda: fp
        print("CHOICES", pack.nodes.model_store.safe_model_choices())
        try:
            pack.nodes.load_in2_model("tiny", "", "main", "cpu", "fp32")
        except ImportError as exc:
            print("ERROR", exc)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "NODES ('IN2_LoadModel', 'IN2_Inpaint') True" in result.stdout
    assert "CHOICES [" in result.stdout and "tiny" in result.stdout
    error = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert error, result.stdout
    assert "IN2 needs the Python package" in error[0]
    assert "huggingface_hub" in error[0] or "safetensors" in error[0]
    assert "install.py" in error[0]


def test_root_init_never_raises_when_the_node_package_fails(tmp_path):
    """A broken install must not take ComfyUI down: the entry point logs and exports no nodes."""
    copy = tmp_path / "pack"
    (copy / "nodes").mkdir(parents=True)
    (copy / "__init__.py").write_text((REPO / "__init__.py").read_text())
    (copy / "nodes" / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    spec = importlib.util.spec_from_file_location("broken_pack", copy / "__init__.py",
                                                  submodule_search_locations=[str(copy)])
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("broken_pack.nodes", None)
    assert callable(module.comfy_entrypoint) and not hasattr(module, "NODE_CLASS_MAPPINGS")


# --------------------------------------------------------------------------- model folder


def test_model_folder_is_registered_under_comfyui_models(pack, tmp_path, monkeypatch):
    fp = fake_folder_paths(tmp_path / "models")
    monkeypatch.setitem(sys.modules, "folder_paths", fp)
    pack.nodes.model_store.register_model_folder()
    pack.nodes.model_store.register_model_folder()  # idempotent
    paths, extensions = fp.folder_names_and_paths["in2"]
    assert paths == [str(tmp_path / "models" / "in2")]
    assert ".safetensors" in extensions


def test_model_folder_extends_an_existing_entry(pack, tmp_path, monkeypatch):
    """An `in2:` entry from extra_model_paths.yaml (or another pack) keeps its paths and priority."""
    fp = fake_folder_paths(tmp_path / "models", {"in2": ["/mnt/shared/in2"]})
    monkeypatch.setitem(sys.modules, "folder_paths", fp)
    pack.nodes.model_store.register_model_folder()
    assert fp.folder_names_and_paths["in2"][0] == ["/mnt/shared/in2", str(tmp_path / "models" / "in2")]


def test_model_list(pack, models_dir, tiny_dir, monkeypatch):
    import shutil

    store = pack.nodes.model_store
    store.register_model_folder()
    shutil.copytree(tiny_dir, models_dir / "in2" / "people" / "v2")
    (models_dir / "in2" / "weights-only").mkdir()
    (models_dir / "in2" / "weights-only" / "model.safetensors").write_bytes(b"x")
    shutil.copytree(tiny_dir, models_dir / "in2" / ".hidden")
    monkeypatch.setattr("in2.loader.demo_weights_available", lambda: False)
    assert store.model_choices() == ["people/v2", "tiny", store.HUB_CHOICE]
    monkeypatch.setattr("in2.loader.demo_weights_available", lambda: True)
    choices = store.safe_model_choices()
    assert choices[0] == store.DEMO_CHOICE  # the default when the demo weights ship
    assert store.resolve("people/v2") == models_dir / "in2" / "people" / "v2"
    assert store.resolve(store.DEMO_CHOICE) is None


def test_loader_reruns_when_the_weights_are_resaved(pack, models_dir, tiny_dir):
    import shutil

    pack.nodes.model_store.register_model_folder()
    fingerprint = pack.nodes.model_store.fingerprint  # the loader's fingerprint_inputs
    before = fingerprint("tiny", "", "main")
    assert before and before == fingerprint("tiny", "", "main")
    weights = models_dir / "in2" / "tiny" / "model.safetensors"
    shutil.copy(tiny_dir / "model.safetensors", weights)
    os.utime(weights, ns=(1, 1))
    assert fingerprint("tiny", "", "main") != before
    assert fingerprint("missing", "", "main") == ""


def test_models_in_the_shared_inpaint_folder_are_found_too(pack, models_dir, tiny_dir, monkeypatch):
    """IN2 folders beside LaMa and MAT in models/inpaint are listed and load; the in2 folder wins a clash,
    hub downloads still go to models/in2, and the inpaint entry another pack registered is left as it was."""
    import shutil

    store = pack.nodes.model_store
    store.register_model_folder()
    shared = models_dir / "inpaint"
    shutil.copytree(tiny_dir, shared / "faces-v1")
    shutil.copytree(tiny_dir, shared / "tiny")  # the same name as models/in2/tiny
    (shared / "big-lama.pt").write_bytes(b"not ours")  # a LaMa file is no IN2 model
    models = store.local_models()
    assert models["faces-v1"] == shared / "faces-v1" and models["tiny"] == models_dir / "in2" / "tiny"
    assert set(models) == {"faces-v1", "tiny"}
    assert store.resolve("faces-v1") == shared / "faces-v1"
    assert store.download_folder() == models_dir / "in2"

    fp = sys.modules["folder_paths"]
    elsewhere = models_dir.parent / "shared-inpaint"
    shutil.copytree(tiny_dir, elsewhere / "studio")
    fp.folder_names_and_paths["inpaint"] = ([str(elsewhere)], {".pt", ".pth"})  # registered by another pack
    assert set(store.local_models()) == {"studio", "tiny"}
    assert fp.folder_names_and_paths["inpaint"] == ([str(elsewhere)], {".pt", ".pth"})


def test_model_list_honours_extra_folders(pack, tmp_path, tiny_dir, monkeypatch):
    """Folders added through extra_model_paths.yaml are searched too, the first one winning a name clash."""
    import shutil

    extra = tmp_path / "extra"
    shutil.copytree(tiny_dir, extra / "tiny")
    shutil.copytree(tiny_dir, extra / "only-here")
    monkeypatch.setitem(sys.modules, "folder_paths",
                        fake_folder_paths(tmp_path / "models", {"in2": [str(extra)]}))
    store = pack.nodes.model_store
    store.register_model_folder()
    shutil.copytree(tiny_dir, tmp_path / "models" / "in2" / "tiny")
    models = store.local_models()
    assert models == {"only-here": extra / "only-here", "tiny": extra / "tiny"}


def test_unknown_model_names_the_folders(pack, models_dir):
    pack.nodes.model_store.register_model_folder()
    with pytest.raises(WeightsError) as info:
        pack.nodes.load_in2_model("gone", "", "main", "cpu", "fp32")
    message = str(info.value)
    assert "'gone'" in message and str(models_dir / "in2") in message and "config.json" in message


def test_hub_download_goes_into_the_models_folder_once(pack, models_dir, tiny_dir, monkeypatch):
    import shutil

    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, revision=None, local_dir=None, **kwargs):
        calls.append((repo_id, revision))
        for name in ("config.json", "model.safetensors"):
            Path(local_dir).mkdir(parents=True, exist_ok=True)
            shutil.copy(tiny_dir / name, Path(local_dir) / name)
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    store = pack.nodes.model_store
    store.register_model_folder()
    load = pack.nodes.load_in2_model
    load(store.HUB_CHOICE, "someone/faces", "v1.0", "cpu", "fp32")
    target = models_dir / "in2" / "someone--faces@v1.0"
    assert calls == [("someone/faces", "v1.0")] and store.is_model_dir(target)
    assert "someone--faces@v1.0" in store.model_choices()  # listed like any local model
    second = load(store.HUB_CHOICE, "someone/faces", "v1.0", "cpu", "fp32")
    assert len(calls) == 1  # found on disk: works offline
    assert second.pipeline.weights_info.source == f"someone/faces ({target})"
    assert second.pipeline.weights_info.revision == "v1.0"
    with pytest.raises(WeightsError, match="owner/name"):
        load(store.HUB_CHOICE, "not a repo", "main", "cpu", "fp32")


def test_hub_download_failure_is_explained(pack, models_dir, monkeypatch):
    import huggingface_hub

    def offline(**kwargs):
        raise OSError("offline mode is enabled")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    pack.nodes.model_store.register_model_folder()
    with pytest.raises(WeightsError) as info:
        pack.nodes.load_in2_model(
            pack.nodes.model_store.HUB_CHOICE, "someone/faces", "main", "cpu", "fp32")
    assert "someone/faces@main" in str(info.value) and "offline mode" in str(info.value)


# --------------------------------------------------------------------------- inpainting


def test_single_image_keeps_size_and_unmasked_pixels(model, inpaint):
    image = comfy_image()
    mask = box_mask()
    out, _ = inpaint(model, image, mask)
    assert out.shape == image.shape and out.dtype == image.dtype
    hole = mask[0] >= 0.5
    assert_kept_outside(out, image, hole)
    assert not torch.equal(out[:, hole], image[:, hole])


def test_mask_without_batch_dimension(model, inpaint):
    image = comfy_image()
    out, _ = inpaint(model, image, box_mask()[0])
    assert out.shape == image.shape
    assert_kept_outside(out, image, box_mask()[0] >= 0.5)


def test_one_mask_applies_to_every_image(model, inpaint):
    image = comfy_image(batch=3)
    mask = box_mask()
    out, _ = inpaint(model, image, mask)
    assert out.shape == image.shape
    assert_kept_outside(out, image, mask[0] >= 0.5)
    for index in range(3):
        assert not torch.equal(out[index], image[index])


def test_mask_batch_pairs_one_to_one(model, inpaint):
    image = comfy_image(batch=2)
    mask = torch.zeros(2, 37, 45)
    mask[1, 5:15, 5:15] = 1  # image 0: empty mask, image 1: a hole
    out, _ = inpaint(model, image, mask)
    assert torch.equal(out[0], image[0])
    assert_kept_outside(out, image, mask >= 0.5)
    assert not torch.equal(out[1], image[1])


def test_mask_count_mismatch_is_a_clear_error(model, inpaint):
    with pytest.raises(InputError, match=r"3 image\(s\) but 2 mask\(s\)"):
        inpaint(model, comfy_image(batch=3), torch.ones(2, 37, 45))


def test_mask_size_mismatch_names_both_sizes(model, inpaint):
    with pytest.raises(InputError) as info:
        inpaint(model, comfy_image(height=37, width=45), torch.ones(1, 20, 30))
    message = str(info.value)
    assert "30x20" in message and "45x37" in message and "resize_mask" in message


def test_resize_mask_option(model, inpaint):
    image = comfy_image(height=37, width=45)
    small = torch.zeros(1, 20, 30)
    small[:, 5:10, 5:15] = 1
    out, _ = inpaint(model, image, small, resize_mask=True)
    assert out.shape == image.shape
    assert not torch.equal(out, image)
    assert torch.equal(out[:, :3], image[:, :3]) and torch.equal(out[:, -3:], image[:, -3:])


def test_empty_mask_passes_the_image_through(model, inpaint):
    image = comfy_image(batch=2)
    out, _ = inpaint(model, image, torch.zeros(1, 37, 45))
    assert torch.equal(out, image)
    # LoadImage's MASK for a picture without alpha is a 64x64 zero mask: nothing to fill, no error
    out, _ = inpaint(model, image, torch.zeros(1, 64, 64))
    assert torch.equal(out, image)


@pytest.mark.parametrize("dtype", DTYPE_CHOICES)
def test_every_offered_dtype_loads_and_runs_on_cpu(pack, tiny_dir, inpaint, dtype, monkeypatch):
    """The loader hands the choice to the core (whose rules test_pipeline covers) and the node runs."""
    import warnings

    monkeypatch.setitem(sys.modules, "folder_paths",
                        fake_folder_paths(tiny_dir.parent.parent, {"in2": [str(tiny_dir.parent)]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fp16 on CPU: the core runs fp32 and warns
        loaded = pack.nodes.load_in2_model("tiny", "", "main", "cpu", dtype)
        assert loaded.pipeline.dtype == resolve_dtype(dtype, "cpu")
    image = comfy_image()
    out, _ = inpaint(loaded, image, box_mask())
    assert out.shape == image.shape
    assert_kept_outside(out, image, box_mask()[0] >= 0.5)


def test_seamless_blend_option(model, inpaint):
    image = comfy_image()
    mask = box_mask()
    hole = mask[0] >= 0.5
    plain, _ = inpaint(model, image, mask, blend="none")
    seamless, _ = inpaint(model, image, mask, blend="seamless")
    assert_kept_outside(seamless, image, hole)
    assert not torch.equal(seamless[:, hole], plain[:, hole])


def test_bad_inputs_are_clear_errors(model, inpaint):
    with pytest.raises(InputError, match="IMAGE"):
        inpaint(model, torch.rand(1, 3, 37, 45, 2), box_mask())
    with pytest.raises(InputError, match="IN2 Load Model"):
        inpaint("not a model", comfy_image(), box_mask())
    with pytest.raises(InputError, match="mode"):
        inpaint(model, comfy_image(), box_mask(), mode="fast")


def test_crop_on_fills_each_region_in_its_own_box(model, inpaint, monkeypatch):
    calls = []
    real = model.pipeline.model
    monkeypatch.setattr(
        model.pipeline, "model", lambda image, mask, **kw: calls.append(tuple(image.shape)) or real(image, mask, **kw)
    )
    monkeypatch.setattr(model.pipeline.model, "config", real.config, raising=False)
    image = comfy_image(batch=2, height=300, width=1000)
    mask = torch.zeros(2, 300, 1000)
    mask[0, 30:36, 40:50] = 1
    mask[0, 250:260, 900:910] = 1  # image 1 has an empty mask
    out, filled = inpaint(model, image, mask, crop="on", context=2.0)
    assert out.shape == image.shape and filled.shape == (2, 300, 1000) and filled.dtype == torch.float32
    assert torch.equal(filled, (mask >= 0.5).float())
    assert_kept_outside(out, image, mask >= 0.5)
    assert torch.equal(out[1], image[1])
    assert calls == [(2, 3, 300, 384)]  # the two 384-pixel boxes (cut to the photo's height) in one batch


def test_grow_and_threshold_are_applied_and_reported(model, inpaint):
    image = comfy_image(height=60, width=60)
    mask = torch.zeros(1, 60, 60)
    mask[:, 20:30, 20:30] = 0.3  # soft
    out, filled = inpaint(model, image, mask, grow=3, threshold=0.25)
    hole = filled[0] >= 0.5
    assert bool(hole[17, 25]) and not bool(hole[16, 25]) and int(hole.sum()) > 100
    assert_kept_outside(out, image, hole)
    untouched, nothing = inpaint(model, image, mask)  # 0.3 < 0.5: nothing to fill
    assert torch.equal(untouched, image) and not bool(nothing.any())


def test_too_large_is_cropped_by_auto_and_explained_when_off(model, inpaint, monkeypatch):
    monkeypatch.setattr(model.pipeline, "max_pixels", 400 * 400)
    image = comfy_image(height=500, width=600)
    mask = torch.zeros(1, 500, 600)
    mask[:, 200:210, 300:320] = 1
    with pytest.raises(InputError, match="crop='on'"):
        inpaint(model, image, mask, crop="off")
    out, _ = inpaint(model, image, mask)  # auto: the 384x384 box around the hole fits
    assert out.shape == image.shape
    assert_kept_outside(out, image, mask[0] >= 0.5)


# --------------------------------------------------------------------------- ComfyUI services


def test_comfyui_memory_management_progress_and_interrupt(pack, tiny_dir, monkeypatch):
    fake = FakeComfy()
    for name, module in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(sys.modules, "folder_paths",
                        fake_folder_paths(tiny_dir.parent.parent, {"in2": [str(tiny_dir.parent)]}))
    loaded = pack.nodes.load_in2_model("tiny", "", "main", "auto", "fp32")
    patcher = loaded.patcher
    assert patcher is not None and patcher.load_device == torch.device("cpu")
    # the patcher holds the pipeline's network, so ComfyUI moving it moves what the pipeline runs
    assert any(m is loaded.pipeline.model for m in patcher.model.modules())

    out, _ = pack.nodes.run_inpaint(loaded, comfy_image(), box_mask())
    assert fake.loaded == [patcher]  # load_models_gpu before running
    assert fake.bars and fake.bars[-1].updates and fake.bars[-1].updates[-1] == fake.bars[-1].total
    assert fake.interrupt_checks > 0

    fake.interrupt = True
    with pytest.raises(sys.modules["comfy.model_management"].InterruptProcessingException):
        pack.nodes.run_inpaint(loaded, comfy_image(), box_mask())


# --------------------------------------------------------------------------- install + workflows


def _install_module():
    spec = importlib.util.spec_from_file_location("in2_install", REPO / "install.py")
    install = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install)
    return install


def test_install_pins_torch_and_skips_natten_without_cuda(monkeypatch, capsys):
    install = _install_module()
    calls = []

    def fake_pip(args, constraint):
        calls.append((args, constraint.read_text() if constraint else None))
        return 0

    monkeypatch.setattr(install, "pip", fake_pip)
    monkeypatch.setattr(install, "torch_has_cuda", lambda: False)
    assert install.main() == 0
    assert calls == [(["-r", str(REPO / "requirements.txt")], f"torch=={torch.__version__}\n")]
    assert "NATTEN would not speed anything up" in capsys.readouterr().out


def test_install_never_fails_over_natten(monkeypatch, capsys):
    install = _install_module()
    calls = []
    monkeypatch.setattr(install, "torch_has_cuda", lambda: True)
    monkeypatch.setattr(install, "natten_fused_installed", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(install, "pip", lambda args, c: calls.append(args) or (1 if "-f" in args else 0))
    assert install.main() == 0
    tag = install.natten_wheel_tag(torch.__version__, "13.0")
    assert f"natten=={install.NATTEN_VERSIONS[0]}+{tag}" in calls[1] and "--only-binary" in calls[1]
    assert len(calls) == 1 + len(install.NATTEN_VERSIONS)
    assert "no prebuilt NATTEN wheel" in capsys.readouterr().out


def test_natten_wheel_tag():
    install = _install_module()
    assert install.natten_wheel_tag("2.13.1+cu130", "13.0") == "torch2130cu130"
    assert install.natten_wheel_tag("2.12.0", "12.6") == "torch2120cu126"


def test_requirements_leave_torch_alone():
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    names = {line.split(">")[0].split("=")[0].split("<")[0].strip().lower() for line in lines if line}
    assert "torch" not in names and {"safetensors", "huggingface-hub", "numpy", "pillow"} <= names


def _widget_values(api_inputs: dict) -> list:
    """The API node's inputs that are widgets (not links), in order: what widgets_values holds."""
    return [value for value in api_inputs.values() if not isinstance(value, list)]


def test_example_workflows_match_the_nodes(pack):
    ui = json.loads((WORKFLOWS / "in2_face_inpaint.json").read_text())
    api = json.loads((WORKFLOWS / "api" / "in2_face_inpaint_api.json").read_text())
    nodes = {node["id"]: node for node in ui["nodes"]}
    links = {link[0]: link for link in ui["links"]}
    by_type = {node["type"]: node for node in ui["nodes"]}
    assert {"LoadImage", "IN2_LoadModel", "IN2_Inpaint", "SaveImage"} <= set(by_type)
    for link_id, source, slot, target, target_slot, kind in ui["links"]:
        assert nodes[source]["outputs"][slot]["type"] == kind and link_id in nodes[source]["outputs"][slot]["links"]
        assert nodes[target]["inputs"][target_slot]["link"] == link_id
    inpaint_inputs = {i["name"]: links[i["link"]] for i in by_type["IN2_Inpaint"]["inputs"]}
    assert nodes[inpaint_inputs["mask"][1]]["type"] == "LoadImage" and inpaint_inputs["mask"][2] == 1
    for node_id in pack.nodes.NODE_IDS:
        twin = next(n for n in api.values() if n["class_type"] == node_id)
        assert _widget_values(twin["inputs"]) == by_type[node_id]["widgets_values"], node_id  # the same graph
    # every widget of the schema is set (the real frontend check is in test_comfyui_integration.py)
    inpaint_api = next(n for n in api.values() if n["class_type"] == "IN2_Inpaint")["inputs"]
    assert set(inpaint_api) == {"model", "image", "mask", "mode", "blend", "resize_mask", "crop", "context", "grow",
                                "fill_holes", "threshold"}
    api_inpaint = next(n for n in api.values() if n["class_type"] == "IN2_Inpaint")["inputs"]
    assert api[api_inpaint["mask"][0]]["class_type"] == "LoadImage" and api_inpaint["mask"][1] == 1
    assert {n["class_type"] for n in api.values()} == {"LoadImage", "IN2_LoadModel", "IN2_Inpaint", "SaveImage"}


def test_under_comfyui_the_weights_wait_where_they_were_loaded(pack, tiny_dir, monkeypatch):
    """ComfyUI, not the loader, moves the weights to the compute device: loading moves nothing,
    and a precision the offload device cannot run is not refused (or warned about) at load."""
    import warnings

    fake = FakeComfy()
    fake.modules["comfy.model_management"].get_torch_device = lambda: torch.device("meta")  # a "GPU"
    for name, module in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(sys.modules, "folder_paths",
                        fake_folder_paths(tiny_dir.parent.parent, {"in2": [str(tiny_dir.parent)]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fp16 resolved against the CPU would warn here
        loaded = pack.nodes.load_in2_model("tiny", "", "main", "auto", "fp16")
    assert loaded.patcher.load_device == torch.device("meta")
    assert loaded.pipeline.device == torch.device("cpu")  # not moved at load
    loaded.pipeline.model.to("meta")  # what ComfyUI's load_models_gpu does before a run
    assert loaded.pipeline.device == torch.device("meta")


def test_every_node_has_a_help_page_that_names_each_input(pack, tiny_dir, monkeypatch):
    """The ComfyUI front end shows WEB_DIRECTORY/docs/<node id>.md as the node's help page."""
    import asyncio

    web = REPO / pack.WEB_DIRECTORY
    assert web.is_dir() and not list(web.rglob("*.js"))  # docs only: no script runs in the browser
    monkeypatch.setitem(sys.modules, "folder_paths",
                        fake_folder_paths(tiny_dir.parent.parent, {"in2": [str(tiny_dir.parent)]}))
    for name, module in fake_comfy_api().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, f"{pack.__name__}.nodes.schema", raising=False)
    for node in asyncio.run(asyncio.run(pack.comfy_entrypoint()).get_node_list()):
        schema = node.define_schema()
        page = (web / "docs" / f"{schema['node_id']}.md").read_text(encoding="utf-8")
        assert page.startswith(f"# {schema['display_name']}\n")
        for declared in schema["inputs"]:
            assert f"| `{declared['id']}` |" in page, (schema["node_id"], declared["id"])
        for declared in schema["outputs"]:
            assert f"`{declared['display_name']}`" in page, (schema["node_id"], declared["display_name"])
