"""Crash-safe checkpoints: ``accelerator.save_state`` into a temp dir, then one atomic rename.

A run killed at any moment (SIGKILL, pre-emption, power loss) leaves either a complete
``step-XXXXXXXX`` folder or none; half-written state only ever sits in ``.tmp-*`` folders (and
half-deleted old checkpoints in ``.trash-*``), which ``--resume latest`` ignores and the next
save removes. ``TrainState`` holds the counters a checkpoint restores, and ``decide_resume``
picks the checkpoint every rank resumes from.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from accelerate import Accelerator

from trainer.distributed import RunLayoutError, failing_ranks, main_decides

STEP_RE = re.compile(r"^step-(\d{8})$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as ``(step, path)``, oldest first."""
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        m = STEP_RE.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(root: Path) -> Path | None:
    ckpts = list_checkpoints(root)
    return ckpts[-1][1] if ckpts else None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(accelerator: Accelerator, root: Path, step: int, keep: int = 3) -> Path:
    """Save the full training state for ``step``; every rank must call this."""
    final = root / checkpoint_name(step)
    tmp = root / f".tmp-{checkpoint_name(step)}"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        for stale in [*root.glob(".tmp-*"), *root.glob(".trash-*")]:
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    if main_decides(accelerator, final.exists):  # e.g. the end-of-run save landing on a periodic one
        return final
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb+") as fh:
                    os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(root)
        if keep > 0:
            for _, old in list_checkpoints(root)[:-keep]:
                # Rename first: a kill during the delete must not leave a half-deleted step-* folder.
                trash = root / f".trash-{old.name}"
                os.replace(old, trash)
                shutil.rmtree(trash, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def resolve_resume(arg: str | None, root: Path) -> Path | None:
    """``--resume latest`` -> newest complete checkpoint (None if there is none yet); else a path."""
    if not arg:
        return None
    if arg == "latest":
        return latest_checkpoint(root)
    p = Path(arg)
    if not p.is_dir():
        raise FileNotFoundError(f"--resume {arg}: no such checkpoint folder")
    return p


def decide_resume(accelerator: Accelerator, arg: str | None, ckpt_root: Path) -> Path | None:
    """``--resume`` resolved once on the main process; every rank must see that checkpoint."""

    def choose() -> str | None:
        path = resolve_resume(arg, ckpt_root)
        if path is None:
            return None
        return path.name if path.parent.resolve() == ckpt_root.resolve() else str(path)

    choice = main_decides(accelerator, choose)
    if choice is None:
        return None
    path = ckpt_root / choice if STEP_RE.match(choice) else Path(choice)
    failing = failing_ranks(accelerator, path.is_dir()) if accelerator.num_processes > 1 else []
    if failing:
        raise RunLayoutError(
            f"the main process resumes from {path}, but {', '.join(failing)} cannot see it: every machine "
            "must see the same output folder (a shared disk)"
        )
    return path


class TrainState:
    """Counters restored on resume (registered for checkpointing)."""

    def __init__(self) -> None:
        self.step = 0  # optimizer steps
        self.epoch = 0
        self.batch_in_epoch = 0  # micro-batches of this epoch already consumed by each rank
        self.images_seen = 0
        self.train_seconds = 0.0
        self.run_shape: dict | None = None  # processes, batch_size, grad_accum (trainer.distributed.RunShape)

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, d: dict) -> None:
        for k, v in d.items():
            setattr(self, k, v)
