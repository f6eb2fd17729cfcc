"""Install this node pack's dependencies into ComfyUI's Python (ComfyUI-Manager runs this file).

Why not a plain `pip install -r requirements.txt`: a dependency could pull a different torch
and break ComfyUI, so pip runs with a constraint pinning the torch that is installed. NATTEN
(fast neighborhood attention) helps only with CUDA torch and is optional: the model has a
portable attention path, so a NATTEN that cannot be had never fails the install.
Safe to run again: pip leaves satisfied requirements alone.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"


def say(message: str) -> None:
    print(f"[IN2 install] {message}", flush=True)


def installed_torch() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def pip(args: list[str], constraint: Path | None) -> int:
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args]
    if constraint is not None:
        command += ["-c", str(constraint)]
    say("running: " + " ".join(command))
    return subprocess.call(command)


def torch_has_cuda() -> bool:
    """Whether the installed torch is a CUDA build (NATTEN's fused kernels need one)."""
    try:
        import torch
    except ImportError:
        return False
    return torch.version.cuda is not None


def install_natten(constraint: Path | None) -> None:
    if os.environ.get("IN2_SKIP_NATTEN", "").strip() not in ("", "0"):
        say("IN2_SKIP_NATTEN is set: not installing NATTEN")
        return
    if importlib.util.find_spec("natten") is not None:
        say("NATTEN is already installed")
        return
    if not torch_has_cuda():
        say("torch has no CUDA here: NATTEN would not speed anything up, using the built-in attention")
        return
    # Prebuilt wheels only: building NATTEN from source needs the CUDA toolkit and can take an hour.
    if pip(["--only-binary", "natten", "natten"], constraint) == 0:
        say("NATTEN installed")
    else:
        say("no prebuilt NATTEN wheel matches this torch/CUDA; the nodes work without it "
            "(built-in attention). To build it yourself see https://natten.org")


def main() -> int:
    torch_version = installed_torch()
    with tempfile.TemporaryDirectory() as tmp:
        constraint = None
        if torch_version:
            constraint = Path(tmp) / "constraints.txt"
            constraint.write_text(f"torch=={torch_version}\n", encoding="utf-8")
            say(f"keeping the installed torch {torch_version}")
        else:
            say("torch is not installed in this Python; install ComfyUI (and its torch) first")
        if pip(["-r", str(REQUIREMENTS)], constraint) != 0:
            say("installing requirements.txt failed; see pip's message above")
            return 1
        install_natten(constraint)
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
