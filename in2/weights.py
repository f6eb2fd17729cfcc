"""Which IN2 weights to load, and what to tell the user about them.

Reading and writing the files themselves (folders, the Hub and its cache, strict loading and
its errors) lives in ``in2.weights_io``; this module only picks the weights (the bundled demo
or what the user named) and turns their model card into a one-line description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import WeightsError
from .weights_io import CONFIG_FILE, WEIGHTS_FILE, ModelFiles, load, locate

if TYPE_CHECKING:
    from .model import IN2

__all__ = ["WeightsInfo", "load_model", "demo_weights_available", "DEMO_WEIGHTS_DIR", "NO_WEIGHTS_MESSAGE", "model_card_summary"]

DEMO_WEIGHTS_DIR = Path(__file__).resolve().parent / "demo_weights"
_DEMO_FILES = (CONFIG_FILE, WEIGHTS_FILE)

NO_WEIGHTS_MESSAGE = (
    "no trained IN2 weights are bundled with this package (in2/demo_weights/ is empty) and none "
    "are published yet. Train a model with `accelerate launch trainer/train.py --config "
    "trainer/configs/<config>.yaml` and pass its output folder, or pass a folder or Hub repo id "
    "that holds config.json + model.safetensors: --weights DIR_OR_REPO_ID "
    "(Python: load_model('DIR_OR_REPO_ID'))"
)


_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
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


def load_model(weights: str | PathLike | None = None, revision: str | None = None) -> tuple["IN2", WeightsInfo]:
    """Load IN2 weights: None = the bundled demo weights, else a local folder or a Hub repo id.

    Returns the model (eval mode, on CPU) and a ``WeightsInfo`` describing it.
    """
    from .model import IN2

    if weights is None and not demo_weights_available():
        raise WeightsError(NO_WEIGHTS_MESSAGE)
    source = str(DEMO_WEIGHTS_DIR if weights is None else weights)
    if revision and (weights is None or Path(source).expanduser().exists()):
        what = "the bundled demo weights are" if weights is None else f"{source} is a local path, which is"
        raise WeightsError(
            f"a revision ({revision}) picks a version of a Hugging Face repo, but {what} used as they are: "
            "drop the revision, or pass a repo id (owner/name)"
        )
    files = locate(source, revision)
    model = load(files, IN2)
    if weights is None:
        info = WeightsInfo(source=source, is_demo=True, description=_card_summary(files) or "IN2 demo weights")
    else:
        info = WeightsInfo(source=source, revision=revision, description=_card_summary(files))
    return model, info
