"""How much memory a piece of work takes at its peak: the one harness the benchmarks use.

CUDA: ``torch.cuda.max_memory_allocated`` during the work minus what was allocated before
it (weights and inputs). CPU: growth of the process's peak resident set (VmHWM) over its
resident set before the work, with the peak counter reset first (``/proc/self/clear_refs``);
it includes allocator slack, so it is an upper bound on tensor memory. A CPU process's peak
covers its whole life, so each CPU measurement runs in a fresh process (``in_fresh_process``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import torch

__all__ = ["PeakMemory", "in_fresh_process"]


def _status_kib(field: str) -> int | None:
    """One ``/proc/self/status`` field in KiB (None off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """``with PeakMemory(device) as peak: work()``, then ``peak.added`` (bytes) and ``peak.peak``.

    ``added`` is what the work added at its peak over what was held before it; ``peak`` the
    absolute peak (None when the platform cannot tell); ``kind`` says which counter was read.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.before: int | None = None
        self.peak: int | None = None
        self.counter_reset = True
        cuda = self.device.type == "cuda"
        self.kind = "cuda max_memory_allocated over weights+inputs" if cuda else "peak RSS growth (VmHWM - RSS before)"

    @property
    def added(self) -> int | None:
        """Never below zero: a CPU peak counter reset to a resident set that shrank since ``before``
        (pages handed back) reads lower than ``before``, which means the work added nothing."""
        return None if self.peak is None or self.before is None else max(0, self.peak - self.before)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.before = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            rss = _status_kib("VmRSS")
            self.before = None if rss is None else rss * 1024
            self.counter_reset = _reset_peak_rss()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            hwm = _status_kib("VmHWM")
            self.peak = None if hwm is None else hwm * 1024


def in_fresh_process(module: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``python -m MODULE --child JSON`` and return the JSON its last output line holds.

    A failure comes back as ``{"error": last line of stderr}`` so one bad size does not end
    a whole table of measurements.
    """
    done = subprocess.run([sys.executable, "-m", module, "--child", json.dumps(spec)], capture_output=True, text=True)
    if done.returncode != 0:
        err = done.stderr.strip()
        return {"error": err.splitlines()[-1] if err else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])
