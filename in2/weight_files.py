"""Model folders on disk and on the Hugging Face Hub: the one place that reads or writes them.

A model folder holds ``config.json`` (the architecture) and ``model.safetensors`` (the
tensors), optionally with a ``README.md`` model card. ``locate`` finds those files for a
folder, a ``.safetensors`` file or a Hub repo id (``download`` fetches a repo once);
``read_config`` and ``load_state`` read them strictly; ``save`` writes a folder atomically and
``upload`` publishes one. Which class a folder holds, and building it, is ``in2.loader``'s job.

No ``PyTorchModelHubMixin``: every one of its hooks had to be replaced for strict,
safetensors-only loading, and the card it writes says nothing about the weights. Plain
functions over a folder do the same with less, and work for any ``nn.Module``.

Importing this module loads only the standard library and ``in2.errors``: ComfyUI imports
it while scanning custom nodes, so torch, safetensors and huggingface_hub load on first use.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import WeightsError
from .storage import replace_atomically

if TYPE_CHECKING:
    from torch import nn

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)  # what a Hub download fetches
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

_PICKLE_HELP = (
    "pickled checkpoints (.bin/.pt/.pth/.ckpt) can run arbitrary code when loaded, so IN2 never loads them. "
    "Convert it once in a trusted environment: `from safetensors.torch import save_file; "
    "save_file(torch.load(PATH, weights_only=True), 'model.safetensors')` and put it next to config.json."
)


def is_repo_id(text: str) -> bool:
    """Whether ``text`` is written like a Hugging Face repo id (``owner/name``)."""
    return bool(_REPO_ID.match(text)) and ".." not in text and not text.endswith((".", "-"))


def is_pickle(path: Path) -> bool:
    return Path(path).suffix.lower() in PICKLE_SUFFIXES


@dataclass(frozen=True)
class ModelFiles:
    """The files of one model, wherever they were found."""

    config: Path
    weights: Path

    @property
    def card(self) -> Path | None:
        """The model card next to the weights, if there is one."""
        card = self.weights.parent / CARD_FILE
        return card if card.is_file() else None


# -- finding the files -------------------------------------------------------------------------

def locate(
    source: str | os.PathLike, revision: str | None = None, *, cache_dir: str | Path | None = None,
    force_download: bool = False, token: str | bool | None = None, local_files_only: bool = False,
) -> ModelFiles:
    """The files of a local folder, a ``.safetensors`` file or a Hub repo id (downloaded once)."""
    source = str(source)
    path = Path(source).expanduser()
    if is_pickle(path):
        raise WeightsError(f"refusing to load {source}: {_PICKLE_HELP}")
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise WeightsError(f"{source} is not a weights folder or a .safetensors file; pass the folder holding "
                               f"{CONFIG_FILE} and {WEIGHTS_FILE}")
        return _folder_files(path.parent, path)
    if path.is_dir():
        return _folder_files(path, path / WEIGHTS_FILE)
    if not is_repo_id(source):
        raise WeightsError(
            f"weights not found: {source!r} is not an existing directory and not a Hub repo id (org/name)"
        )
    folder = download(source, revision, cache_dir=cache_dir, force_download=force_download, token=token,
                      local_files_only=local_files_only)
    return ModelFiles(folder / CONFIG_FILE, folder / WEIGHTS_FILE)


def _folder_files(folder: Path, weights: Path) -> ModelFiles:
    if not weights.is_file():
        pickled = sorted(p.name for p in folder.iterdir() if is_pickle(p))
        if pickled:
            raise WeightsError(f"{folder} holds {pickled} but no {WEIGHTS_FILE}: {_PICKLE_HELP}")
        raise WeightsError(f"no {WEIGHTS_FILE} in {folder}; save weights with IN2.save_pretrained(DIR)")
    config = folder / CONFIG_FILE
    if not config.is_file():
        raise WeightsError(
            f"no {CONFIG_FILE} next to {weights}: the architecture is unknown without it. "
            f"Write it with IN2.save_pretrained(DIR) or copy the config.json that came with the weights"
        )
    return ModelFiles(config, weights)


def _offline() -> bool:
    """HF_HUB_OFFLINE read at call time (huggingface_hub reads it once, at its import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def download(
    repo_id: str, revision: str | None = None, *, local_dir: str | Path | None = None,
    cache_dir: str | Path | None = None, force_download: bool = False, token: str | bool | None = None,
    local_files_only: bool = False,
) -> Path:
    """Fetch a Hub repo's model files; returns the folder holding them.

    Without ``local_dir`` they go to the Hugging Face cache (``HF_HUB_CACHE`` and
    ``HF_HUB_OFFLINE`` are read at call time); with it, into that folder (ComfyUI's model folder).
    """
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    if not is_repo_id(repo_id):
        raise WeightsError(f"{repo_id!r} is not a Hugging Face repo id; write it as 'owner/name'")
    offline = local_files_only or _offline() or constants.HF_HUB_OFFLINE
    where = repo_id + (f"@{revision}" if revision else "")
    # Only what differs from the client's own defaults (it honours its import-time offline flag itself).
    options: dict[str, Any] = {"repo_id": repo_id, "revision": revision, "allow_patterns": list(MODEL_FILES)}
    if local_dir is not None:
        options["local_dir"] = str(local_dir)
    elif cache_dir or os.environ.get("HF_HUB_CACHE"):
        options["cache_dir"] = str(cache_dir or os.environ["HF_HUB_CACHE"])
    if offline and not constants.HF_HUB_OFFLINE:
        options["local_files_only"] = True
    if force_download:
        options["force_download"] = True
    if token is not None:
        options["token"] = token
    instead = (f"or put the model files in {local_dir} yourself" if local_dir is not None
               else f"or pass a local directory (no such directory: {repo_id!r})")
    try:
        folder = Path(snapshot_download(**options))
    except LocalEntryNotFoundError as exc:
        reason = "offline mode (HF_HUB_OFFLINE=1)" if offline else "the Hub could not be reached"
        raise WeightsError(
            f"{where} is not in the local Hugging Face cache and {reason}; download it once with network "
            f"access, {instead}"
        ) from exc
    except RevisionNotFoundError as exc:
        raise WeightsError(f"revision {revision!r} not found in Hub repo {repo_id!r}") from exc
    except RepositoryNotFoundError as exc:
        raise WeightsError(
            f"Hub repo {repo_id!r} not found (and no such local directory); check the name and token"
        ) from exc
    except Exception as exc:  # network, proxy, auth, disk: all for the user to fix, none a bug here
        raise WeightsError(
            f"could not download {where}: {exc}. Check the repo id, the revision and your connection, {instead}"
        ) from exc
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            if offline:
                raise WeightsError(f"{name} of {where} is not in the local Hugging Face cache and offline mode "
                                   "(HF_HUB_OFFLINE=1) is on; download it once with network access")
            extra = f" {_PICKLE_HELP}" if name == WEIGHTS_FILE else ""
            raise WeightsError(f"Hub repo {where} has no {name} at its top level, so it is not an IN2 model.{extra}")
    return folder


# -- strict loading ----------------------------------------------------------------------------

def read_config(path: Path) -> dict[str, Any]:
    """The JSON object in ``config.json``; anything else is a WeightsError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"cannot read {path}: {exc}; it must be the JSON written by IN2.save_pretrained") from exc
    if not isinstance(data, dict):
        raise WeightsError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def _few(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def load_state(model: nn.Module, path: Path) -> None:
    """Strict load: every tensor present, no extras, same shapes, every value finite; corrupt
    files named as such.

    The file is read on the CPU; tensors stored in another float dtype are cast on copy.
    """
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises SafetensorError / OSError for damaged files
        raise WeightsError(
            f"{path} is not a readable safetensors file (truncated or corrupt: {exc}); download or export it again"
        ) from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    config_name = type(getattr(model, "config", model)).__name__
    hint = f"; the config.json ({config_name}) probably does not match these weights"
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing tensor(s): {_few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s): {_few(unexpected)}")
        raise WeightsError(f"weights in {path} do not fit the model: " + "; ".join(parts) + hint)
    wrong = [
        f"{name} has shape {tuple(state[name].shape)} in the file but the model expects {tuple(t.shape)}"
        for name, t in expected.items() if tuple(state[name].shape) != tuple(t.shape)
    ]
    if wrong:
        raise WeightsError(f"weights in {path} do not fit the model: {_few(wrong, 3)}" + hint)
    broken = [name for name, t in state.items() if t.is_floating_point() and not bool(t.isfinite().all())]
    if broken:  # NaN or infinite weights fill every hole with NaN, shown as black
        raise WeightsError(f"weights in {path} hold NaN or infinite values in {len(broken)} tensor(s) "
                           f"({_few(broken)}): "
                           "the training run diverged or the file was damaged; use an earlier checkpoint's export")
    model.load_state_dict(state, strict=True)


# -- writing -----------------------------------------------------------------------------------

def write_card(folder: str | Path, text: str) -> Path:
    """Write the model card (``README.md``) of a model folder."""
    path = Path(folder) / CARD_FILE
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def save(model: nn.Module, folder: str | Path, config: dict[str, Any], card: str | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (+ ``README.md`` when ``card`` is given)."""
    from safetensors.torch import save_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    replace_atomically(folder / WEIGHTS_FILE, lambda tmp: save_model(model, str(tmp)))
    text = json.dumps(config, indent=2, sort_keys=True)
    replace_atomically(folder / CONFIG_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    if card is not None:
        write_card(folder, card)
    return folder


def upload(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload a model folder (weights, config, card) to a Hub model repo; returns its URL."""
    from huggingface_hub import HfApi

    if not is_repo_id(repo_id):
        raise WeightsError(f"{repo_id!r} is not a Hugging Face repo id; write it as 'owner/name'")
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder} is not a folder; export the model first")
    _folder_files(folder, folder / WEIGHTS_FILE)  # refuse to publish a folder that would not load
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                      commit_message="Upload IN2 weights")
    return f"https://huggingface.co/{repo_id}"
