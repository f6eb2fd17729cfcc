"""Where IN2 models live for ComfyUI: the `in2` and `inpaint` model folders, the bundled demo, Hugging Face.

A model is a folder holding `config.json` + `model.safetensors` (what `IN2.save_pretrained`
writes and what a Hugging Face repo holds), placed anywhere under a folder registered as
`in2` (by default `ComfyUI/models/in2/`; more via `extra_model_paths.yaml`) or under the
`inpaint` folders, where creators already keep LaMa and MAT (`ComfyUI/models/inpaint/`, as
comfyui-inpaint-nodes registers it; that entry is read, never changed). Its name in the node
is its path relative to that folder, e.g. `faces-v1` or `people/faces-v1`; where two folders
hold the same name, the `in2` one wins. The file names, the repo-id rule and the download come
from `in2.weight_files` (a light import).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from in2.errors import WeightsError
from in2.weight_files import CONFIG_FILE, WEIGHTS_FILE, download, is_repo_id

from . import comfy_bridge

log = logging.getLogger("in2.comfyui")

FOLDER_KEY = "in2"
SHARED_KEY = "inpaint"  # the folder other inpainting packs use; searched after ours
# What `get_filename_list("in2")` shows other nodes; listing here works on folders instead.
FOLDER_EXTENSIONS = {".safetensors", ".json"}
DEMO_CHOICE = "in2-demo (bundled)"
HUB_CHOICE = "download from Hugging Face (repo_id below)"
MAX_DEPTH = 3  # how deep model folders may be nested under a registered folder


def register_model_folder() -> None:
    """Add `models/in2` to ComfyUI's model folders, extending an existing `in2` entry.

    An entry may already exist from `extra_model_paths.yaml` (loaded before custom nodes) or
    another pack; it is extended, never replaced, so user paths keep their priority.
    """
    fp = comfy_bridge.folder_paths()
    if fp is None:
        return
    default = os.path.join(fp.models_dir, FOLDER_KEY)
    if FOLDER_KEY in fp.folder_names_and_paths:
        fp.add_model_folder_path(FOLDER_KEY, default, is_default=False)
    else:
        fp.folder_names_and_paths[FOLDER_KEY] = ([default], set(FOLDER_EXTENSIONS))


def own_folders() -> list[Path]:
    """The registered `in2` folders in priority order (empty outside ComfyUI)."""
    fp = comfy_bridge.folder_paths()
    if fp is None or FOLDER_KEY not in fp.folder_names_and_paths:
        return []
    return [Path(p) for p in fp.get_folder_paths(FOLDER_KEY)]


def shared_folders() -> list[Path]:
    """The `inpaint` folders: as registered (another pack, `extra_model_paths.yaml`), else `models/inpaint`."""
    fp = comfy_bridge.folder_paths()
    if fp is None:
        return []
    if SHARED_KEY in fp.folder_names_and_paths:
        return [Path(p) for p in fp.get_folder_paths(SHARED_KEY)]
    return [Path(fp.models_dir) / SHARED_KEY]


def search_folders() -> list[Path]:
    """Every folder models are looked for in, in priority order: `in2` first, then `inpaint`."""
    folders: list[Path] = []
    for folder in own_folders() + shared_folders():
        if folder not in folders:
            folders.append(folder)
    return folders


def is_model_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def local_models() -> dict[str, Path]:
    """Model name -> folder, for every model folder under the registered folders (first wins)."""
    found: dict[str, Path] = {}
    for base in search_folders():
        if not base.is_dir():
            continue
        for dirpath, dirnames, _files in os.walk(base, followlinks=True):
            here = Path(dirpath)
            depth = len(here.relative_to(base).parts)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if depth < MAX_DEPTH else []
            if depth and is_model_dir(here):
                found.setdefault(here.relative_to(base).as_posix(), here)
                dirnames[:] = []  # a model folder's own subfolders are not models
    return found


def demo_available() -> bool:
    """Whether the demo weights ship with this copy (they are optional in the package)."""
    from in2.loader import demo_weights_available

    return demo_weights_available()


def model_choices() -> list[str]:
    """The node's model list: the demo first (the default) when present, local models, the hub."""
    choices = [DEMO_CHOICE] if demo_available() else []
    choices += sorted(local_models())
    choices.append(HUB_CHOICE)
    return choices


def safe_model_choices() -> list[str]:
    """`model_choices`, but a broken folder (permissions, dangling links) never breaks ComfyUI's node list."""
    try:
        return model_choices()
    except Exception as exc:  # noqa: BLE001
        log.warning("IN2: could not list the 'in2' model folders: %s", exc)
        return [HUB_CHOICE]


def hub_folder_name(repo_id: str, revision: str) -> str:
    """Folder a hub download is stored in, so the same repo+revision is found offline later."""
    name = repo_id.replace("/", "--")
    rev = revision.strip()
    if rev and rev != "main":
        name += "@" + re.sub(r"[^A-Za-z0-9._-]", "_", rev)
    return name


def download_folder() -> Path:
    """Where hub downloads go: the first registered `in2` folder."""
    folders = own_folders()
    if not folders:
        raise WeightsError(
            "no 'in2' model folder is registered, so a Hugging Face model has nowhere to be stored; "
            "run inside ComfyUI or put the model folder in ComfyUI/models/in2 yourself"
        )
    return folders[0]


def fetch_from_hub(repo_id: str, revision: str) -> Path:
    """The local folder of `repo_id`@`revision`, downloading it into the `in2` folder once.

    Once downloaded the folder is used as is (offline too) and also appears in the model list
    under its folder name; delete the folder to download a newer commit of a branch.
    """
    repo_id = repo_id.strip()
    if not is_repo_id(repo_id):
        raise WeightsError(
            f"repo_id {repo_id!r} is not a Hugging Face repo id; write it as 'owner/name' "
            "(or pick a model from the list)"
        )
    revision = revision.strip() or "main"
    target = download_folder() / hub_folder_name(repo_id, revision)
    if is_model_dir(target):
        return target
    download(repo_id, revision, local_dir=target)  # checks that the model files arrived
    return target


def fingerprint(choice: str, repo_id: str = "", revision: str = "") -> str:
    """Changes when the chosen model's files change (re-saved weights), without downloading."""
    try:
        if choice == DEMO_CHOICE:
            from in2.loader import DEMO_WEIGHTS_DIR

            folder = Path(DEMO_WEIGHTS_DIR)
        elif choice == HUB_CHOICE:
            folder = download_folder() / hub_folder_name(repo_id.strip(), revision.strip() or "main")
        else:
            folder = local_models()[choice]
        stats = [(folder / name).stat() for name in (CONFIG_FILE, WEIGHTS_FILE)]
    except (KeyError, OSError, WeightsError):
        return ""  # the loader itself reports what is wrong
    return ";".join(f"{st.st_mtime_ns}:{st.st_size}" for st in stats)


def resolve(choice: str, repo_id: str = "", revision: str = "") -> Path | None:
    """The weights location for `in2.loader.load_model` (None = the bundled demo)."""
    if choice == DEMO_CHOICE:
        return None
    if choice == HUB_CHOICE:
        return fetch_from_hub(repo_id, revision)
    models = local_models()
    if choice in models:
        return models[choice]
    folders = ", ".join(str(f) for f in search_folders()) or "(none registered)"
    raise WeightsError(
        f"model {choice!r} was not found in the 'in2' or 'inpaint' model folders: {folders}. A model is a folder with "
        f"{CONFIG_FILE} + {WEIGHTS_FILE}; press 'r' in ComfyUI to refresh the list after adding one"
    )
