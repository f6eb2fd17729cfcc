"""Make the `in2` core package importable when the repo is loaded as a ComfyUI custom node.

ComfyUI imports `custom_nodes/<repo>/__init__.py` under a path-like module name and never puts
the repo folder on `sys.path`, so `import in2` would fail (or find a different copy). Adding the
repo folder to `sys.path` is not an option either: its `nodes/` package would shadow ComfyUI's
own top-level `nodes` module. So only the `in2` package is loaded, from this repo, by location.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORE_DIR = REPO_ROOT / "in2"


def ensure_core_importable() -> None:
    """Register this repo's `in2` package in `sys.modules` unless an `in2` is already imported."""
    if "in2" in sys.modules:
        return
    init = CORE_DIR / "__init__.py"
    if not init.is_file():
        raise ImportError(f"the IN2 core package is missing: {init} not found; re-install this node pack")
    spec = importlib.util.spec_from_file_location("in2", init, submodule_search_locations=[str(CORE_DIR)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the IN2 core package from {CORE_DIR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["in2"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["in2"]
        raise


def missing_dependency(exc: ModuleNotFoundError) -> ImportError:
    """An ImportError that tells a ComfyUI user which package is missing and how to get it."""
    name = exc.name or str(exc)
    return ImportError(
        f"IN2 needs the Python package '{name}', which is not installed in ComfyUI's Python. Install this "
        f"node pack's requirements with that Python: `python install.py` in the pack's folder (or "
        f"`pip install -r requirements.txt`; in ComfyUI-Manager: 'Try fix'), then restart ComfyUI"
    )
