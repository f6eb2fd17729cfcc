"""``python trainer/legacy_checkpoints.py CHECKPOINT``: convert a checkpoint written by older
versions (``accelerator.save_state``: pickled ``.bin``/``.pkl`` files) into the JSON +
safetensors form a resume reads, once, when its owner trusts where it came from.

The pickles are read with ``torch.load(weights_only=True)``, torch's restricted loader, which
builds only tensors and plain values (it refuses a file that asks for anything else), never
by a plain unpickler. The random generator files are left out: a resume reseeds from the step
anyway. The folder is replaced in one rename, so an interrupted conversion keeps the old one.
"""

from __future__ import annotations

import argparse
import os
import pickle  # only for its error class: the files are read by torch's restricted loader
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from trainer.checkpoints import CheckpointError
from trainer.state_files import write_tree

__all__ = ["LEGACY_FILES", "convert"]

#: Part name -> the file ``accelerator.save_state`` wrote for it, in the order the old trainer
#: registered its objects (schedulers, EMA, counters after the prepared models and optimisers).
LEGACY_FILES = {
    "generator": "model.safetensors", "discriminator": "model_1.safetensors",
    "opt_g": "optimizer.bin", "opt_d": "optimizer_1.bin",
    "sched_g": "custom_checkpoint_0.pkl", "sched_d": "custom_checkpoint_1.pkl",
    "ema": "custom_checkpoint_2.pkl", "state": "custom_checkpoint_3.pkl",
}
_SCALER = "scaler.pt"  # only in fp16 runs


def _read(path: Path) -> object:
    if path.suffix == ".safetensors":
        return load_file(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, OSError, RuntimeError, EOFError) as exc:  # the restricted loader refuses
        # anything but tensors and plain values; damaged files fail too
        raise CheckpointError(f"{path} holds more than tensors and plain values, so it is not converted "
                              f"({str(exc).splitlines()[0]}); start a new run instead") from None


def convert(folder: Path) -> Path:
    """Replace the legacy checkpoint ``folder`` by its JSON + safetensors form; returns it."""
    missing = [name for name in LEGACY_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"{folder} is not a checkpoint of the older format (no {', '.join(missing)})")
    temp, trash = folder.with_name(f".tmp-convert-{folder.name}"), folder.with_name(f".trash-{folder.name}")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    try:
        for part, name in LEGACY_FILES.items():
            write_tree(temp, part, _read(folder / name))
        if (folder / _SCALER).is_file():
            write_tree(temp, "scaler", _read(folder / _SCALER))
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)  # the old folder stays as it was
        raise
    os.replace(folder, trash)
    os.replace(temp, folder)
    shutil.rmtree(trash, ignore_errors=True)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoints/step-XXXXXXXX folder of an older version")
    args = parser.parse_args(argv)
    print(f"converted {convert(args.checkpoint)}: resume it with --resume {args.checkpoint} (or latest)")


if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "legacy_checkpoints"))
