"""An exported IN2 (``in2 export-onnx``) run by ONNX Runtime's CPU provider, called like the
torch model, so ``InpaintPipeline`` runs it through the same masks, crops and compositing.

Only the network runs in ONNX Runtime. Before it, ``model.network_input`` (the hole pre-fill,
the mask channel, the padding to ``min_size``), and after it ``model.network_output`` (the
padding cropped, the "smooth" correction) run in Python: the same functions as the torch
forward's, with the config read from the file's metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from .config import IN2Config
from .errors import InputError, WeightsError
from .model import network_input, network_output
from .onnx_export import CONFIG_KEY, INPUT_NAMES, OUTPUT_NAME
from .runtime import FIXED_BYTES, ONNX_DECODE_BYTES, SAFETY_MARGIN, available_memory

#: The only execution provider used: the file runs wherever ONNX Runtime's CPU build does.
PROVIDER = "CPUExecutionProvider"
#: Bounds on the output pixels one run decodes (each run also repeats the encoder and body).
MIN_RUN_PIXELS = 1 << 14
MAX_RUN_PIXELS = 1 << 24


def _split(wanted: torch.Tensor, most: int) -> list[torch.Tensor]:
    """``wanted`` [1, 1, H, W] bool cut into runs of at most ``most`` pixels, in row-major order
    (each run's pixels then read a compact band of every lower level)."""
    order = torch.cumsum(wanted.reshape(-1).long(), 0).reshape(wanted.shape) - 1
    count = int(wanted.sum())
    if count <= most:
        return [wanted]
    return [wanted & (order // most == run) for run in range((count + most - 1) // most)]


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise InputError("running an ONNX file needs onnxruntime: pip install -e '.[onnx]' in the IN2 checkout") \
            from None
    return onnxruntime


class OnnxModel:
    """``model(image, mask, decode_only=...)`` like ``IN2.forward``, computed by ONNX Runtime.

    threads: ONNX Runtime's intra-op threads (None = its default, one per physical core).
    """

    backend = "onnx"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        ort = _onnxruntime()
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"ONNX file not found: {self.path}")
        options = ort.SessionOptions()
        # idle threads sleep rather than spin, as torch's do under in2 (see in2/__init__.py)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            if not isinstance(threads, int) or threads < 1:
                raise InputError(f"threads must be a whole number of at least 1, got {threads!r}")
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=[PROVIDER])
        except Exception as exc:  # noqa: BLE001  (ONNX Runtime's error classes derive from Exception only)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsError(f"{self.path} is not an ONNX file ONNX Runtime can run ({first}); "
                               "write one with `in2 export-onnx`") from None
        names = tuple(i.name for i in self.session.get_inputs())
        metadata = self.session.get_modelmeta().custom_metadata_map
        if names != INPUT_NAMES or CONFIG_KEY not in metadata:
            raise WeightsError(f"{self.path} was not written by `in2 export-onnx` (inputs {names}, "
                               f"no {CONFIG_KEY!r} metadata); export it again with `in2 export-onnx`")
        try:
            self.config = IN2Config.from_dict(json.loads(metadata[CONFIG_KEY]))
        except (ValueError, TypeError) as exc:
            raise WeightsError(f"{self.path}: its {CONFIG_KEY!r} metadata is not a valid IN2 config ({exc})") from None

    def __call__(
        self,
        image: torch.Tensor,
        mask: torch.Tensor,
        *,
        chunk_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        decode_only: torch.Tensor | None = None,
        guess: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """image [B,3,H,W], mask [B,1,H,W] (1 = hole) -> prediction [B,3,H,W] on the CPU, 0 outside
        ``decode_only`` when one is given. ``chunk_size`` is accepted for the torch model's signature:
        a run decodes what memory allows (``region_pixels``); ``progress`` is told after each run."""
        prepared = network_input(self.config, image.detach().cpu(), mask.detach().cpu(),
                                 None if decode_only is None else decode_only.detach().cpu(), torch.float32,
                                 None if guess is None else guess.detach().cpu())
        x = prepared.x.contiguous()
        if prepared.decode_only is None:
            wanted = torch.ones_like(x[:1, :1], dtype=torch.bool)
        else:
            wanted = prepared.decode_only.any(0, keepdim=True)
        runs = _split(wanted, self.region_pixels())
        y = torch.zeros(x.shape[0], self.config.out_channels, *x.shape[-2:])
        for done, part in enumerate(runs, 1):
            feeds = {INPUT_NAMES[0]: x.numpy(), INPUT_NAMES[1]: part.float().expand(x.shape[0], -1, -1, -1).numpy()}
            y = torch.where(part, torch.from_numpy(self.session.run([OUTPUT_NAME], feeds)[0]), y)
            if progress is not None:
                progress(done, len(runs))
        out = network_output(self.config, y, prepared)
        if prepared.decode_only is not None:  # the graph decodes the batch's union: each image keeps its own
            height, width = prepared.size
            out = out * prepared.decode_only[..., :height, :width]
        return out.to(image.device)

    def region_pixels(self) -> int:
        """Most output pixels one run decodes: what the free memory holds at
        ``runtime.ONNX_DECODE_BYTES`` per decoded pixel and decoder hidden unit, at least
        ``MIN_RUN_PIXELS``. A larger region takes several runs, each repeating the encoder and
        body. The encoder's maps are not counted: ONNX Runtime frees them before decoding and
        reuses their memory (3840x2160 with a 5% hole, bundled weights: 5.6 GiB peak in one
        run, 9.5 GiB when the same region was cut into three)."""
        free = available_memory("cpu")
        if free is None:
            return MAX_RUN_PIXELS
        spare = free * SAFETY_MARGIN - FIXED_BYTES
        per_pixel = ONNX_DECODE_BYTES * self.config.decoder_hidden
        return int(min(MAX_RUN_PIXELS, max(MIN_RUN_PIXELS, spare // per_pixel)))

    # what InpaintPipeline asks of a model it holds: an ONNX file has no torch weights to move
    def to(self, *args, **kwargs) -> OnnxModel:
        device = kwargs.get("device", args[0] if args and not isinstance(args[0], torch.dtype) else None)
        if device is not None and torch.device(device).type != "cpu":
            raise InputError(f"an ONNX file runs on the CPU (ONNX Runtime's {PROVIDER}), not on {device}")
        return self

    def eval(self) -> OnnxModel:
        return self

    def parameters(self):
        return iter(())
