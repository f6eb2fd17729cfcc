"""Finding and loading IN2 weights.

Strict loading and every error about the weights themselves (missing or unexpected keys,
shapes, corrupt files, pickled checkpoints) live in ``IN2.from_pretrained``; this module only
decides WHICH weights to load and describes them for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import WeightsError

if TYPE_CHECKING:
    from .model import IN2

__all__ = ["WeightsInfo", "load_model", "demo_weights_available", "DEMO_WEIGHTS_DIR", "NO_WEIGHTS_MESSAGE", "model_card_summary"]

DEMO_WEIGHTS_DIR = Path(__file__).resolve().parent / "demo_weights"
_DEMO_FILES = ("config.json", "model.safetensors")

NO_WEIGHTS_MESSAGE = (
    "no trained IN2 weights are bundled with this package (in2/demo_weights/ is empty) and none "
    "are published yet. Train a model with `accelerate launch trainer/train.py --config "
    "trainer/configs/<config>.yaml` and pass its output folder, or pass a folder or Hub repo id "
    "that holds config.json + model.safetensors: --weights DIR_OR_REPO_ID "
    "(Python: load_model('DIR_OR_REPO_ID'))"
)


_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
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
        summary = summary[: limit - 3].rsplit(" ", 1)[0] + "..."
    return summary


def _readme_summary(folder: Path) -> str:
    readme = folder / "README.md"
    if not readme.is_file():
        return ""
    try:
        return model_card_summary(readme.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def _hub_readme_summary(repo_id: str, revision: str | None) -> str:
    """Model card of a Hub repo, from the local cache only (never a download just for a description)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return ""
    try:
        cached = try_to_load_from_cache(repo_id, "README.md", revision=revision)
    except (ValueError, OSError):  # not a valid repo id (e.g. a local path that is not a folder)
        return ""
    if isinstance(cached, str) and Path(cached).is_file():
        return model_card_summary(Path(cached).read_text(encoding="utf-8", errors="replace"))
    return ""


def demo_weights_available() -> bool:
    return all((DEMO_WEIGHTS_DIR / name).is_file() for name in _DEMO_FILES)


def load_model(weights: str | PathLike | None = None, revision: str | None = None) -> tuple["IN2", WeightsInfo]:
    """Load IN2 weights: None = the bundled demo weights, else a local folder or a Hub repo id.

    Returns the model (eval mode, on CPU) and a ``WeightsInfo`` describing it.
    """
    from .model import IN2

    if weights is None:
        if not demo_weights_available():
            raise WeightsError(NO_WEIGHTS_MESSAGE)
        model = IN2.from_pretrained(str(DEMO_WEIGHTS_DIR))
        info = WeightsInfo(
            source=str(DEMO_WEIGHTS_DIR),
            revision=None,
            is_demo=True,
            description=_readme_summary(DEMO_WEIGHTS_DIR) or "IN2 demo weights",
        )
        return model.eval(), info

    source = str(weights)
    model = IN2.from_pretrained(source, revision=revision)
    local = Path(source).expanduser()
    description = _readme_summary(local) if local.is_dir() else _hub_readme_summary(source, revision)
    info = WeightsInfo(source=source, revision=revision, is_demo=False, description=description)
    return model.eval(), info
