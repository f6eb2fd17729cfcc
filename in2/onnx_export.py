"""``in2 export-onnx``: the network (encoder, body, hole-aware decoder) as one ONNX file that
ONNX Runtime runs at every height and width.

What the graph takes is what ``model.network_input`` prepares, and what it returns goes through
``model.network_output``; both stay in Python and are shared with the torch forward:

    inputs   x       float32 [B, 4, H, W]  pre-filled image (3 channels) + hole mask (1 = hole),
                                           padded to at least config.min_size a side
             region  float32 [B, 1, H, W]  1 where the output is needed (the pixels compositing reads)
    output   y       float32 [B, 3, H, W]  the decoder's sigmoid output wherever any image of the
                                           batch has region = 1, 0 elsewhere

The decoder evaluates only the union of the batch's regions (the set each level reads from
the next is derived inside the graph, as ``query_geometry.latent_reads`` does), so the cost
follows the hole. The FFTs and the neighborhood attention run as their traceable forms
(``in2.nn.traceable``). The model's config travels in the file's metadata (``in2_config``), so
the runtime applies the same pre-fill and output rule as the weights it came from.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError
from .loader import export_config
from .model import IN2
from .nn.decoder import INRB
from .nn.query_geometry import axis, neighbours
from .storage import replace_atomically

#: Opset used unless asked otherwise (no operator of the graph needs a newer one).
DEFAULT_OPSET = 17
MIN_OPSET = 17
INPUT_NAMES = ("x", "region")
OUTPUT_NAME = "y"
CONFIG_KEY = "in2_config"


def _reads(queries: torch.Tensor, size: tuple, latent: tuple) -> torch.Tensor:
    """Flat latent indices a level's queries read (their 4 neighbours, each 3x3-dilated):
    the queries of the level below. Like ``query_geometry.latent_reads``, for a flat index set."""
    out_h, out_w = size
    h, w = latent
    ay, ax = axis(h, out_h, queries.device), axis(w, out_w, queries.device)
    rows, cols = queries // out_w, queries % out_w
    near = torch.zeros(h * w, dtype=torch.float32, device=queries.device)
    for ys in (ay.lo.index_select(0, rows), ay.hi.index_select(0, rows)):
        for xs in (ax.lo.index_select(0, cols), ax.hi.index_select(0, cols)):
            flat = ys * w + xs
            near = near.scatter(0, flat, torch.ones_like(flat, dtype=torch.float32))
    grown = F.max_pool2d(near.reshape(1, 1, h, w), 3, stride=1, padding=1)
    return torch.nonzero(grown.reshape(-1) > 0)[:, 0]


def _decode_at(block: INRB, feat: torch.Tensor, size: tuple, queries: torch.Tensor, head=None) -> torch.Tensor:
    """One INRB evaluated at the flat output indices ``queries`` only (0 elsewhere), through the
    block's own factorised first layer and MLP (``INRB._factorised_table_at`` and friends)."""
    b, _, h, w = feat.shape
    out_h, out_w = size
    ay, ax = axis(h, out_h, feat.device), axis(w, out_w, feat.device)
    cell = torch.stack([torch.as_tensor(h, dtype=torch.float64) / out_h,
                        torch.as_tensor(w, dtype=torch.float64) / out_w]).to(feat.dtype)
    ys, xs, rel, weight = neighbours(ay, ax, queries // out_w, queries % out_w, feat.dtype)
    flat = (ys * w + xs).reshape(-1)
    # the latent pixels read, and where each neighbour's row sits among them
    need = torch.zeros(h * w, dtype=torch.int64, device=feat.device).scatter(0, flat, torch.ones_like(flat))
    pixels = torch.nonzero(need)[:, 0]
    src = (torch.cumsum(need, 0) - 1).index_select(0, flat).reshape(4, -1)
    table = block._factorised_table_at(feat, cell, pixels)
    out = block._mlp(block._first_factorised(table, src, rel), weight)  # [B, n, C]
    if head is not None:
        out = head(out)
    channels = out.shape[-1]
    index = queries[None, :, None].expand(b, -1, channels)
    result = torch.zeros(b, out_h * out_w, channels, dtype=out.dtype, device=out.device).scatter(1, index, out)
    return result.reshape(b, out_h, out_w, channels).permute(0, 3, 1, 2)


class ExportGraph(nn.Module):
    """What the ONNX file computes (see the module docstring): an IN2's encoder, body and
    decoder, evaluated at the region's pixels, with every size read from the input."""

    def __init__(self, model: IN2) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        model = self.model
        feat = model.body(model.encoder(x))
        sizes = model.decoder_sizes(x.shape[-2], x.shape[-1])
        wanted = region.amax(dim=(0, 1)).reshape(-1) > 0.5  # the union over the batch
        queries = [torch.nonzero(wanted)[:, 0]]
        for k in range(len(sizes) - 1, 0, -1):
            queries.insert(0, _reads(queries[0], sizes[k], sizes[k - 1]))
        blocks = model.decoder.blocks
        for index, (block, size, level) in enumerate(zip(blocks, sizes, queries, strict=False)):
            head = model.decoder._rgb if index == len(blocks) - 1 else None
            feat = _decode_at(block, feat, size, level, head)
        return feat


def export_onnx(model: IN2, path: str | os.PathLike, opset: int = DEFAULT_OPSET, overwrite: bool = False) -> Path:
    """Write ``model`` as an ONNX file with dynamic batch, height and width; returns the path.

    The file is written beside its final name and renamed into place (``storage.replace_atomically``),
    so a failed export never leaves a truncated file; an existing file is replaced only with
    ``overwrite``."""
    _require_onnx()
    most = max_opset()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= most:
        raise InputError(f"opset must be a whole number from {MIN_OPSET} to {most} (this torch's exporter), "
                         f"got {opset!r}")
    import onnx

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise InputError(f"the output must be a .onnx file, got {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder: name the .onnx file to write")
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists and is left as it is: choose another name, or pass --overwrite")
    if not isinstance(model, IN2):
        raise InputError(f"only IN2 weights export to ONNX, got a {type(model).__name__}")
    # a copy in eval mode: the exporter restores the train/eval mode it found on the module it
    # traces, so the caller's model is never switched (or its BatchNorm statistics touched)
    model = copy.deepcopy(model).float().cpu().eval()
    graph = ExportGraph(model).eval()
    x = torch.rand(1, 4, 24, 20, generator=torch.Generator().manual_seed(0))
    x[:, 3:] = (x[:, 3:] > 0.7).float()
    region = x[:, 3:].clone()
    dynamic = {name: {0: "batch", 2: "height", 3: "width"} for name in (*INPUT_NAMES, OUTPUT_NAME)}

    def write(temp: Path) -> None:
        with warnings.catch_warnings():  # the tracer's notes on the shape arithmetic it records, as intended
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (x, region), str(temp), input_names=list(INPUT_NAMES),
                              output_names=[OUTPUT_NAME], dynamic_axes=dynamic, opset_version=opset,
                              dynamo=False, do_constant_folding=True)
        proto = onnx.load(str(temp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = CONFIG_KEY, json.dumps(export_config(model), sort_keys=True)
        onnx.save(proto, str(temp))

    replace_atomically(path, write)
    return path


def max_opset() -> int:
    """The newest opset this torch's TorchScript exporter writes."""
    from torch.onnx import _constants

    return int(getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", DEFAULT_OPSET))


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise InputError("exporting to ONNX needs the onnx package: pip install -e '.[onnx]' in the IN2 checkout") \
            from None
