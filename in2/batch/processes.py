"""The processes of a batch run: this one alone, or the group that ``accelerate launch`` or
``torchrun`` started (one or many machines).

Accelerate is the distributed engine; this wrapper only exposes the four collective steps a
batch run needs, so the run reads the same with one process or a thousand.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch

from ..errors import InputError

__all__ = ["Processes", "join_processes"]


class Processes:
    """Rank, size and collectives of the current group (a single process needs none)."""

    def __init__(self, state: Any = None) -> None:
        self._state = state
        self.rank = int(state.process_index) if state is not None else 0
        self.count = int(state.num_processes) if state is not None else 1
        self.local_rank = int(state.local_process_index) if state is not None else 0
        self.device: torch.device | None = state.device if state is not None else None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, value: Any) -> Any:
        """The main process's ``value``, on every process."""
        if self.count == 1:
            return value
        from accelerate.utils import broadcast_object_list

        box = [value if self.is_main else None]
        broadcast_object_list(box, from_process=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order, on every process."""
        if self.count == 1:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.count
        dist.all_gather_object(values, value)
        return values

    def barrier(self) -> None:
        if self.count > 1:
            self._state.wait_for_everyone()

    def close(self) -> None:
        """Leave the process group on every rank (a rank that exits first would abort the others)."""
        if self.count > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def join_processes(device: str = "auto", timeout: timedelta = timedelta(hours=24)) -> Processes:
    """Join the group the launcher started, or stand alone when nothing launched a group.

    ``device`` "cpu" (or no CUDA) makes the group use gloo; otherwise Accelerate picks the
    backend and this process's GPU. ``timeout`` bounds every wait for the other processes.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Processes()
    try:
        from accelerate import PartialState
    except ImportError:
        raise InputError(
            "this run was started by a multi-process launcher, which needs Accelerate: pip install accelerate"
        ) from None
    cpu = device == "cpu" or not torch.cuda.is_available()
    return Processes(PartialState(cpu=cpu, timeout=timeout))
