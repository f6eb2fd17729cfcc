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
NATTEN_WHEELS = "https://whl.natten.org"
NATTEN_VERSIONS = ("0.21.7", "0.21.6", "0.21.5")  # newest first; each published per torch/CUDA pair


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


def natten_fused_installed() -> bool:
    """A NATTEN with its compiled CUDA library (a CPU-only build would not be used)."""
    if importlib.util.find_spec("natten") is None:
        return False
    try:
        from natten._libnatten import HAS_LIBNATTEN
    except Exception:  # noqa: BLE001 - an unusable NATTEN counts as absent
        return False
    return bool(HAS_LIBNATTEN)


def natten_wheel_tag(torch_version: str, cuda_version: str) -> str:
    """NATTEN's wheel label for this torch/CUDA pair, e.g. 2.13.1 + CUDA 13.0 -> torch2130cu130."""
    major, minor = torch_version.split("+")[0].split(".")[:2]
    return f"torch{major}{minor}0cu{cuda_version.replace('.', '')}"


def install_natten(constraint: Path | None) -> None:
    if os.environ.get("IN2_SKIP_NATTEN", "").strip() not in ("", "0"):
        say("IN2_SKIP_NATTEN is set: not installing NATTEN")
        return
    if not torch_has_cuda():
        say("torch has no CUDA here: NATTEN would not speed anything up, using the built-in attention")
        return
    if natten_fused_installed():
        say("NATTEN (with CUDA kernels) is already installed")
        return
    import torch

    tag = natten_wheel_tag(torch.__version__, torch.version.cuda)
    # Prebuilt wheels only: a source build needs the CUDA toolkit and can take an hour.
    for version in NATTEN_VERSIONS:
        wanted = ["--only-binary", "natten", "--retries", "1", "--timeout", "20", f"natten=={version}+{tag}",
                  "-f", NATTEN_WHEELS]
        if pip(wanted, constraint) == 0:
            say(f"NATTEN {version} installed")
            return
    say(f"no prebuilt NATTEN wheel for {tag}; the nodes work without it (built-in attention, same results). "
        "To build it yourself see https://natten.org/install")


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
        try:
            install_natten(constraint)
        except Exception as exc:  # noqa: BLE001 - NATTEN is optional: never fail the install over it
            say(f"skipping NATTEN: {exc}")
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
