"""The one loader: which weights a front end gets, which class their config names, built strictly.

Every way in ends in the same strict build: ``load_pretrained`` (what ``IN2.from_pretrained``
calls) and ``load_model`` (the bundled demo weights by default, plus a ``WeightsInfo`` for
logs and the demo's header; what the pipeline, the ComfyUI nodes, the demo and the
evaluation call). ``config.json`` names its class with ``model_type`` (the registry,
``in2.model_types``; a config without one is IN2's, as every IN2 export and the bundled
weights are), so an export of the FFC baseline loads anywhere an IN2 does. Finding and
reading the files themselves is ``in2.weight_files``'s job.

Importing this module loads only the standard library, the registry and ``in2.weight_files``:
ComfyUI imports it while scanning custom nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import WeightsError
from .model_types import DEFAULT_MODEL_TYPE, model_class
from .weight_files import CONFIG_FILE, WEIGHTS_FILE, ModelFiles, load_state, locate, read_config

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "export_config", "load_pretrained", "load_model",
    "WeightsInfo", "demo_weights_available", "DEMO_WEIGHTS_DIR", "NO_WEIGHTS_MESSAGE", "model_card_summary",
]

DEMO_WEIGHTS_DIR = Path(__file__).resolve().parent / "demo_weights"
_DEMO_FILES = (CONFIG_FILE, WEIGHTS_FILE)

NO_WEIGHTS_MESSAGE = (
    "no trained IN2 weights are bundled with this package (in2/demo_weights/ is empty) and none "
    "are published yet. Train a model with `accelerate launch trainer/train.py --config "
    "trainer/configs/<config>.yaml` and pass its output folder, or pass a folder or Hub repo id "
    "that holds config.json + model.safetensors: --weights DIR_OR_REPO_ID "
    "(Python: load_model('DIR_OR_REPO_ID'))"
)


# -- building ----------------------------------------------------------------------------------

def export_config(model: nn.Module) -> dict[str, Any]:
    """What ``config.json`` of ``model`` holds: its config, and its ``model_type`` unless it is IN2."""
    kind = getattr(model, "model_type", DEFAULT_MODEL_TYPE)
    config = model.config.to_dict()  # type: ignore[operator]
    return config if kind == DEFAULT_MODEL_TYPE else {"model_type": kind, **config}


def _build(config: dict[str, Any], expected: type | None) -> nn.Module:
    """The model ``config`` describes. ``expected``: a registered class the folder must hold
    (``IN2.from_pretrained``), or None for whichever class the config names."""
    config = dict(config)
    kind = config.pop("model_type", DEFAULT_MODEL_TYPE)
    cls = model_class(kind)
    if expected is not None and not issubclass(cls, expected):  # type: ignore[arg-type]
        raise WeightsError(f"these weights are a {kind} model, not {expected.__name__}; "  # type: ignore[union-attr]
                           "load them with in2.load_model(...) or the class they name")
    try:
        return cls(config)
    except (RuntimeError, MemoryError) as exc:  # a config within its bounds that still cannot be built here
        raise WeightsError(f"cannot build the {kind} model its config.json describes ({str(exc).splitlines()[0]}); "
                           "check config.json against the weights it came with") from None


def load_pretrained(
    source: str | PathLike, expected: type | None = None,
    revision: str | None = None, *, map_location: torch.device | str = "cpu", cache_dir: str | PathLike | None = None,
    force_download: bool = False, token: str | bool | None = None, local_files_only: bool = False,
) -> nn.Module:
    """A folder, ``.safetensors`` file or Hub repo id as the model its config names, loaded strictly,
    on ``map_location``, in eval mode. An unusable ``map_location`` fails before any download."""
    from .runtime import resolve_device

    device = resolve_device(map_location)
    files = locate(source, revision, cache_dir=cache_dir, force_download=force_download, token=token,
                   local_files_only=local_files_only)
    return _load_files(files, expected).to(device)


def _load_files(files: ModelFiles, expected: type | None) -> nn.Module:
    model = _build(read_config(files.config), expected)
    load_state(model, files.weights)  # on the CPU: a device problem is never reported as a damaged file
    return model.eval()


# -- what a front end loads --------------------------------------------------------------------

_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# The card huggingface_hub's model mixin wrote into folders saved by earlier versions of IN2.
_MIXIN_BOILERPLATE = "This model has been pushed to the Hub using the"


@dataclass(frozen=True)
class WeightsInfo:
    """What is loaded, for logs, the demo's header and the pipeline's repr."""

    source: str
    revision: str | None = None
    is_demo: bool = False
    description: str = ""

    def summary(self) -> str:
        """One line: where the weights came from and what they are."""
        where = "bundled demo weights" if self.is_demo else self.source
        if self.revision:
            where += f" @ {self.revision}"
        return f"{where}: {self.description}" if self.description else where


def model_card_summary(readme: str, limit: int = 200) -> str:
    """First paragraph of a model card's text (front matter, headings, badges, HTML skipped)."""
    lines = readme.splitlines()
    if lines and lines[0].strip() == "---":  # Hub YAML front matter
        for end in range(1, len(lines)):
            if lines[end].strip() == "---":
                lines = lines[end + 1 :]
                break
    paragraph: list[str] = []
    for line in lines:
        text = line.strip()
        skip = text.startswith(("#", "![", "<", "|", "```", "[![", "- ", "* ")) or set(text) <= set("-=*_ ")
        if not text or skip:
            if paragraph:
                break
            continue
        paragraph.append(text)
    summary = _MD_LINK.sub(r"\1", " ".join(paragraph))
    if summary.startswith(_MIXIN_BOILERPLATE):
        return ""  # the card huggingface_hub writes by default says nothing about the weights
    if len(summary) > limit:
        # Whole sentences when one fits (a banner cut mid-sentence reads as a fault), else words.
        sentences = _SENTENCE_END.split(summary[: limit + 1])
        if len(sentences) > 1:
            return summary[: len(summary[: limit + 1]) - len(sentences[-1])].rstrip()
        summary = summary[: limit - 3].rsplit(" ", 1)[0] + "..."
    return summary


def _card_summary(files: ModelFiles) -> str:
    card = files.card
    if card is None:
        return ""
    try:
        return model_card_summary(card.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def demo_weights_available() -> bool:
    return all((DEMO_WEIGHTS_DIR / name).is_file() for name in _DEMO_FILES)


def load_model(
    weights: str | PathLike | None = None, revision: str | None = None, *, cache_dir: str | PathLike | None = None,
    force_download: bool = False, token: str | bool | None = None, local_files_only: bool = False,
) -> tuple[nn.Module, WeightsInfo]:
    """Load weights: None = the bundled demo weights, else a local folder or a Hub repo id.

    Args:
        weights: None, a folder (config.json + model.safetensors), a ``.safetensors`` file or a repo id.
        revision: a branch, tag or commit of a Hub repo (a local path takes none).
        cache_dir, force_download, token, local_files_only: ``IN2.from_pretrained``'s Hub options.

    Returns:
        The model (eval mode, on CPU; IN2, or whichever class its ``model_type`` names) and a
        ``WeightsInfo`` describing it.

    Examples:
        >>> model, info = load_model()  # the bundled demo weights
        >>> info.summary()  # doctest: +ELLIPSIS
        'bundled demo weights: ...'
    """
    if weights is None and not demo_weights_available():
        raise WeightsError(NO_WEIGHTS_MESSAGE)
    source = str(DEMO_WEIGHTS_DIR if weights is None else weights)
    if revision and (weights is None or Path(source).expanduser().exists()):
        what = "the bundled demo weights are" if weights is None else f"{source} is a local path, which is"
        raise WeightsError(
            f"a revision ({revision}) picks a version of a Hugging Face repo, but {what} used as they are: "
            "drop the revision, or pass a repo id (owner/name)"
        )
    files = locate(source, revision, cache_dir=cache_dir, force_download=force_download, token=token,
                   local_files_only=local_files_only)
    model = _load_files(files, None)
    if weights is None:
        info = WeightsInfo(source=source, is_demo=True, description=_card_summary(files) or "IN2 demo weights")
    else:
        info = WeightsInfo(source=source, revision=revision, description=_card_summary(files))
    return model, info
