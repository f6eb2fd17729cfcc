"""Crash-safe checkpoints: the training state into a temp dir, then one atomic rename.

The state is written by ``save_state`` as JSON plus safetensors (``trainer.state_files``), one
pair of files per part (generator, discriminator, optimisers, schedulers, EMA, counters, the
mixed-precision scaler) and one per rank for its random generators. Nothing a resume reads is
a pickle, so a checkpoint folder from anyone runs no code here; folders written by older
versions (``accelerator.save_state``'s ``.pkl``/``.bin`` files) are refused with a way out.

A run killed at any moment (SIGKILL, pre-emption, power loss) leaves either a complete
``step-XXXXXXXX`` folder or none; half-written state only ever sits in ``.tmp-*`` folders (and
half-deleted old checkpoints in ``.trash-*``), which ``--resume latest`` ignores and the next
save removes. ``TrainState`` holds the counters a checkpoint restores, and ``decide_resume``
picks the checkpoint every rank resumes from.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator

from in2.weight_files import is_pickle
from trainer.distributed import RunLayoutError, failing_ranks, main_decides
from trainer.state_files import StateFileError, read_tree, write_tree

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


class CheckpointError(RuntimeError):
    """A checkpoint or output folder that a run must not read or write; the message names the fix."""


def _rng_name(rank: int) -> str:
    return f"rng-{rank}"


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _parts_with_scaler(accelerator: Accelerator, parts: dict[str, Any]) -> dict[str, Any]:
    scaler = getattr(accelerator, "scaler", None)
    return dict(parts, scaler=scaler) if scaler is not None else dict(parts)


def save_state(accelerator: Accelerator, folder: Path, parts: dict[str, Any]) -> None:
    """Every part's ``state_dict`` (the main process) and this rank's random generators into ``folder``."""
    if accelerator.is_main_process:
        for name, part in _parts_with_scaler(accelerator, parts).items():
            write_tree(folder, name, part.state_dict())
    write_tree(folder, _rng_name(accelerator.process_index), _rng_state())


def load_state(accelerator: Accelerator, folder: Path, parts: dict[str, Any]) -> None:
    """Restore what ``save_state`` wrote; a folder holding pickles is refused before anything is read."""
    pickled = sorted(p.name for p in folder.iterdir() if is_pickle(p))
    if pickled:
        raise CheckpointError(
            f"the checkpoint {folder} holds pickle files ({', '.join(pickled[:3])}), written by an older version; "
            "loading a pickle can run any code, so a resume never does: if you trust where it came from, convert it "
            f"once with `python trainer/legacy_checkpoints.py {folder}`, else start a new run in another --output-dir "
            "(warm-started with model.init_from=<that run's export> to keep its weights)")
    try:
        for name, part in _parts_with_scaler(accelerator, parts).items():
            part.load_state_dict(read_tree(folder, name))
        rng = folder / f"{_rng_name(accelerator.process_index)}.json"
        if rng.is_file():  # absent when resumed on more processes than saved it
            _set_rng_state(read_tree(folder, _rng_name(accelerator.process_index)))
    except CheckpointError:
        raise
    except StateFileError as exc:
        raise CheckpointError(str(exc)) from None
    except (KeyError, ValueError, RuntimeError) as exc:  # another model or optimiser layout
        raise CheckpointError(f"the checkpoint {folder} does not fit this run ({str(exc).splitlines()[0]}); resume "
                              "with the config that wrote it, or start a new run in another --output-dir") from None


def check_output_folder(out_dir: Path, resume: Path | None, export_dir: Path) -> None:
    """A run writes only into a folder of its own: without ``--resume`` (or resuming from a
    checkpoint elsewhere), a folder that holds another run's checkpoints or export is refused,
    since the new run would replace that export and its checkpoint pruning would mix the two."""
    root = out_dir / "checkpoints"
    own = resume is not None and resume.resolve().parent == root.resolve()
    if own:
        return
    held = [str(p) for p in (latest_checkpoint(root), export_dir / "model.safetensors") if p is not None and p.exists()]
    if held:
        raise CheckpointError(
            f"{out_dir} already holds another run ({held[0]}): pass --resume latest to continue it, "
            "or choose another --output-dir (or export.dir) for a new run")


def save_checkpoint(accelerator: Accelerator, root: Path, step: int, parts: dict[str, Any], keep: int = 3) -> Path:
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
    if accelerator.is_main_process:
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    save_state(accelerator, tmp, parts)
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
        raise CheckpointError(f"--resume {arg}: no such checkpoint folder; pass 'latest' or a step-* folder "
                              "under OUTPUT_DIR/checkpoints")
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
    """Counters restored on resume (one part of every checkpoint)."""

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
        unknown = sorted(set(d) - set(vars(self)))
        if unknown:  # a checkpoint sets counters, nothing else of this object
            raise CheckpointError(f"the checkpoint's counters hold unknown entries {unknown}: it was not written by "
                                  "this trainer; resume from another checkpoint or start a new run")
        for k, v in d.items():
            setattr(self, k, v)
