"""Where and how the model runs: device, precision, and how many pixels fit in memory.

The memory budget exists because native-resolution inpainting has no size limit of its
own: a 48 MP phone photo would exhaust the machine after minutes of work. Checking the size
up front turns that into an immediate error that names the ways out.

Option names, precisions and the out-of-memory advice are `in2.options`'s: import them from there.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import os
import warnings
from collections.abc import Callable, Iterator

import torch

from .errors import InputError
from .options import DTYPES, canonical_dtype, runs_on

__all__ = [
    "resolve_device",
    "resolve_dtype",
    "available_memory",
    "max_pixels",
    "autocast",
    "matmul_precision",
    "release_freed_memory",
    "BYTES_PER_PIXEL",
    "CPU_BYTES_PER_PIXEL",
    "bytes_per_pixel",
    "FIXED_BYTES",
    "ONNX_BYTES_PER_PIXEL",
    "ONNX_DECODE_BYTES",
    "SAFETY_MARGIN",
    "DEFAULT_CHUNK_SIZE",
]

# Output queries the implicit decoder evaluates at once at inference (exact: queries are
# independent). Bounds the decoder's working memory to a constant.
DEFAULT_CHUNK_SIZE = 16384

# Peak memory per output pixel of the default IN2Config (15.26M parameters) at inference with
# chunk_size=DEFAULT_CHUNK_SIZE and every pixel decoded (a full mask, the worst case). It grows
# linearly with the pixel count. Measured with
#   python -m in2.bench.memory --sides 640 1280                  (CPU, peak RSS of a fresh process)
#   python -m in2.bench.memory --dtype bf16 --sides 384 768
#   python -m in2.bench.memory --device cuda --dtype fp32 --sides 512 1024 2048   (max_memory_allocated)
#   python -m in2.bench.memory --device cuda --dtype bf16 --sides 512 1024 2048
# CPU fp32, with the stem and the FFC convolutions in row strips and attention by head groups:
# a slope of 442 B/px (640 -> 1280, offset 134 MiB; 528 B/px at 1280 alone); the table keeps
# 600. CPU bf16 429 B/px and H100 fp32 913 B/px at 2048^2, bf16 and fp16 465 B/px, offset about
# 105 MiB, were measured before those changes: the GPU table keeps the largest fp32 slope, and
# the half-precision figure with a 20% margin.
BYTES_PER_PIXEL = {torch.float32: 1100, torch.float16: 560, torch.bfloat16: 560}
CPU_BYTES_PER_PIXEL = {torch.float32: 600, torch.float16: 560, torch.bfloat16: 560}
# An exported model run by ONNX Runtime (in2.onnx_runtime), peak RSS growth of a fresh process:
# per input pixel with a small hole, default config 1,156 / 1,193 / 1,270 B/px at 256^2 / 512^2
# / 1024^2 (the bundled small config 720 / 682 at 1024^2 / 2048^2; no row strips, and the DFT
# matrices and the attention's gathers cost more than the torch path's FFT and tiles), kept at
# 1,400; per decoded pixel about 64 B per decoder hidden unit (a full hole: 16.5 KB/px at hidden
# 256 at 128^2 and 256^2, 8.6 KB/px at hidden 128 at 256^2 and 512^2: the graph holds a run's
# decoder activations at once), kept at 66.
ONNX_BYTES_PER_PIXEL = 1400
ONNX_DECODE_BYTES = 66
# Memory that does not grow with the image: weights, decoder chunk buffers, allocator slack.
FIXED_BYTES = 512 << 20
# Fraction of the available memory the budget may use.
SAFETY_MARGIN = 0.7


def resolve_device(device: str | int | torch.device = "auto") -> torch.device:
    """``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or the index N) or ``"mps"``.

    Asking for a device that is not there is an error rather than a silent CPU fallback:
    a user who asked for the GPU wants to know it is not being used.
    """
    if isinstance(device, torch.device):
        device = str(device)
    elif isinstance(device, int) and not isinstance(device, bool):  # torch's spelling of a CUDA index
        device = f"cuda:{device}"
    elif device is not None and not isinstance(device, str):
        raise InputError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu" or name.startswith("cpu:"):  # Accelerate's CPU ranks report "cpu:0"
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise InputError(
                "device 'mps' is not available (needs Apple silicon and a PyTorch build with MPS): "
                "use --device cpu or auto"
            )
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(
                f"device {name!r} is not available: this PyTorch ({torch.__version__}) sees no CUDA GPU; "
                "use --device cpu (or auto), or install a CUDA build of PyTorch"
            )
        index = torch.cuda.current_device() if name == "cuda" else _parse_index(name)
        count = torch.cuda.device_count()
        if index >= count:
            raise InputError(
                f"device {name!r} does not exist: {count} CUDA device(s) visible (cuda:0 .. cuda:{count - 1})"
            )
        return torch.device("cuda", index)
    raise InputError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps")


def _parse_index(name: str) -> int:
    try:
        return int(name.split(":", 1)[1])
    except ValueError:
        raise InputError(f"unknown device {name!r}: use cuda:N with N a number, e.g. cuda:0") from None


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_dtype(dtype: str | torch.dtype = "fp32", device: torch.device | str = "cpu") -> torch.dtype:
    """Compute precision: ``"fp32"``, ``"fp16"``, ``"bf16"`` or ``"auto"``.

    ``auto`` is bf16 on CUDA GPUs that support it, else fp32 (fp16 overflows more easily and
    the gain over bf16 is small for this model). fp16 on CPU falls back to fp32 with a
    warning: PyTorch's CPU half kernels are slow or missing (the FFT has none); use bf16 to
    save memory on CPU. Reduced precision runs under autocast; the weights stay fp32.
    """
    device = torch.device(device)
    if isinstance(dtype, torch.dtype):
        chosen = dtype
    else:
        name = canonical_dtype(dtype or "fp32")
        if name == "auto":
            if device.type == "cuda" and torch.cuda.is_bf16_supported():
                return torch.bfloat16
            return torch.float32
        if name not in DTYPES:
            raise InputError(f"unknown dtype {dtype!r}: use {', '.join(DTYPES)} or auto")
        chosen = DTYPES[name]
    if chosen not in DTYPES.values():
        raise InputError(f"unsupported dtype {chosen}: use {', '.join(DTYPES)} or auto")
    if not runs_on(chosen, device.type):  # fp16 on CPU
        warnings.warn(
            "fp16 is not supported on CPU (PyTorch's CPU half kernels are slow or missing); "
            "running in fp32. Use bf16 to save memory on CPU.",
            stacklevel=2,
        )
        return torch.float32
    return chosen


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Reduced precision for the matmuls and convolutions; a no-op for fp32."""
    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


# On a CPU with native bf16 instructions (AVX512-BF16, AMX) an fp32 pipeline runs its matrix
# products in bf16: the linear layers and convolutions after the stem, and the decoder's
# per-query MLP. Inputs and weights are rounded to bf16, sums accumulate in fp32, and every
# result goes back to fp32 before sums, norms, attention and the FFT (which stay fp32), as
# does the stem, which reads the photo's pixels. Why: these products are most of the CPU time,
# and bf16 halves them (1.3-1.4x through the pipeline at 512x512 on the 2-core build machine).
# Bound: hole PSNR against the all-fp32 result of at least 45 dB on real photos (an RMS
# difference under 1.5/255, below what a viewer can see); tested with the bundled weights
# (tests/in2/test_pipeline.py) and measured by `python -m in2.bench.precision`. False keeps fp32.
CPU_BF16_MATMULS = True

_MATMUL_DTYPE: contextvars.ContextVar[torch.dtype | None] = contextvars.ContextVar("in2_matmul_dtype", default=None)


def cpu_matmul_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype | None:
    """The precision of the matrix products for a pipeline computing in ``dtype`` on ``device``
    (None = ``dtype`` itself): bf16 for fp32 on a CPU with native bf16 (see CPU_BF16_MATMULS)."""
    if not CPU_BF16_MATMULS or device.type != "cpu" or dtype != torch.float32:
        return None
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    return torch.bfloat16 if native else None


@contextlib.contextmanager
def matmul_precision(device: torch.device | str, dtype: torch.dtype) -> Iterator[None]:
    """Within: this thread's inference matrix products compute in ``cpu_matmul_dtype``."""
    token = _MATMUL_DTYPE.set(cpu_matmul_dtype(torch.device(device), dtype))
    try:
        yield
    finally:
        _MATMUL_DTYPE.reset(token)


def reduced_matmul_dtype() -> torch.dtype | None:
    """The precision fp32 matrix products compute in right now (None = fp32); read by in2.nn.fused."""
    return _MATMUL_DTYPE.get()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory(device: torch.device) -> None:
    """Give the pages of freed CPU tensors back to the system now (glibc's ``malloc_trim``).

    Why: maps under glibc's mmap threshold (up to 32 MiB) come from its heap, which keeps freed
    pages; the next stage's maps then add to them and raise the peak resident memory (about
    240 MiB of the 980 MiB a 1920x1080 photo took with the bundled weights). Called between the
    model's stages; a no-op off glibc and for other devices."""
    trim = _malloc_trim() if device.type == "cpu" else None
    if trim is not None:
        trim(0)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_limit() -> int | None:
    """Memory left under a container's cgroup limit (Docker, Kubernetes), when one is set."""
    for limit_path, usage_path in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_path, encoding="ascii") as handle:
                raw = handle.read().strip()
            if raw == "max":
                return None
            limit = int(raw)
            if limit >= 1 << 60:
                return None
            with open(usage_path, encoding="ascii") as handle:
                usage = int(handle.read().strip())
            return max(0, limit - usage)
        except (OSError, ValueError):
            continue
    return None


def available_memory(device: torch.device | str) -> int | None:
    """Bytes the model may use on ``device`` now; None when it cannot be told.

    CPU: /proc/meminfo MemAvailable (or physical pages from sysconf), capped by a cgroup
    limit. CUDA: free memory reported by the driver plus what PyTorch's allocator holds
    cached. MPS: the recommended working set minus what is allocated.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(0, cached))
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    available = _meminfo_available()
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = None
    cgroup = _cgroup_limit()
    if cgroup is not None:
        available = cgroup if available is None else min(available, cgroup)
    return available


def max_pixels(
    device: torch.device | str, dtype: torch.dtype = torch.float32, available: int | None = None,
    backend: str = "torch",
) -> int | None:
    """Largest number of output pixels (batch x H x W) one forward may take on ``device``.

    ``(available * SAFETY_MARGIN - FIXED_BYTES) / BYTES_PER_PIXEL``; None when the available
    memory is unknown (no limit is enforced then).
    """
    if available is None:
        available = available_memory(device)
    if available is None:
        return None
    return max(0, int((available * SAFETY_MARGIN - FIXED_BYTES) // bytes_per_pixel(device, dtype, backend)))


def bytes_per_pixel(device: torch.device | str, dtype: torch.dtype = torch.float32, backend: str = "torch") -> int:
    """Peak bytes one output pixel costs on ``device`` in ``dtype`` (the budget's slope);
    ``backend="onnx"``: an exported model in ONNX Runtime (its decoding runs are sized apart)."""
    if backend == "onnx":
        return ONNX_BYTES_PER_PIXEL
    table = CPU_BYTES_PER_PIXEL if torch.device(device).type == "cpu" else BYTES_PER_PIXEL
    return table.get(dtype, table[torch.float32])
