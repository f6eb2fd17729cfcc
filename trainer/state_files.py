"""Training state on disk as JSON plus safetensors: reading a checkpoint can never run code.

Every piece of a checkpoint (weights, optimiser moments, schedulers, EMA, counters, random
generators) is a ``state_dict``-like tree of dicts, lists, tuples, numbers, strings, numpy
arrays and tensors. ``write_tree`` splits such a tree into ``NAME.json`` (the structure, each
node tagged with its kind, so tuples stay tuples and integer keys stay integers) and
``NAME.safetensors`` (the tensors, named by their place in the tree); ``read_tree`` puts it
back together. Neither file format can carry code, unlike the pickles ``torch.save`` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

__all__ = ["StateFileError", "read_tree", "write_tree"]


class StateFileError(RuntimeError):
    """A checkpoint file is missing, damaged, or holds something these files cannot store."""


def _encode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, torch.Tensor):
        tensors[where] = value.detach().cpu().contiguous().clone()  # clone: no shared storage in the file
        return {"tensor": where}
    if isinstance(value, np.ndarray):
        return {"ndarray": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, tensors, f"{where}.k{i}"), _encode(v, tensors, f"{where}.{i}")]
                         for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [_encode(v, tensors, f"{where}.{i}") for i, v in enumerate(value)]}
    raise StateFileError(f"cannot store a {type(value).__name__} at {where} in a checkpoint (JSON and tensors only)")


def _decode(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise StateFileError(f"unexpected entry {str(node)[:60]!r}")
    kind = next(iter(node))
    if kind == "tensor":
        return tensors[node["tensor"]]
    if kind == "ndarray":
        dtype = np.dtype(node["dtype"])
        if dtype.kind not in "biuf":  # numbers only: no object arrays
            raise StateFileError(f"unexpected array type {node['dtype']!r}")
        return np.asarray(node["ndarray"], dtype=dtype)
    if kind == "value":
        return node["value"]
    if kind == "dict":
        return {_decode(k, tensors): _decode(v, tensors) for k, v in node["dict"]}
    if kind == "list":
        return [_decode(v, tensors) for v in node["list"]]
    if kind == "tuple":
        return tuple(_decode(v, tensors) for v in node["tuple"])
    raise StateFileError(f"unknown entry kind {kind!r}")


def write_tree(folder: Path, name: str, tree: Any) -> None:
    """``folder/NAME.json`` and ``folder/NAME.safetensors`` holding ``tree``."""
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(tree, tensors, "t")
    save_file(tensors, str(folder / f"{name}.safetensors"))
    (folder / f"{name}.json").write_text(json.dumps(structure), encoding="utf-8")


def read_tree(folder: Path, name: str) -> Any:
    """The tree ``write_tree`` stored as ``name`` in ``folder`` (tensors on the CPU)."""
    try:
        structure = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / f"{name}.safetensors"), device="cpu")
        return _decode(structure, tensors)
    except (OSError, ValueError, KeyError, TypeError, SafetensorError, StateFileError) as exc:
        raise StateFileError(f"cannot read {name} from the checkpoint {folder} ({exc}); resume from another "
                             "checkpoint (--resume DIR) or start a new run") from None
