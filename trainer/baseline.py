"""A LaMa-style convolutional baseline generator (FFC ResNet) for the paper's Table 4.

Table 4 asks whether a conv net retrained with ATS copes with real-world shapes. This baseline
shares IN2's FFC blocks (``in2.nn.FFCResBlock``), data, masks and losses, and differs only in
what the paper compares: strided-conv encoder, FFC residual bottleneck, transposed-conv decoder,
no attention and no implicit decoder. Sizes that are not multiples of ``2**num_down`` are
reflect-padded and cropped back, which is how conv inpainters are run on arbitrary photos.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from in2.errors import WeightsError
from in2.nn import FFCResBlock
from in2.weights_io import CONFIG_FILE, load_pretrained, read_config


@dataclass
class FFCBaselineConfig:
    base_channels: int = 64
    num_down: int = 3
    num_blocks: int = 9  # LaMa big uses 18; 9 matches LaMa "Fourier"
    ffc_ratio: float = 0.75
    train_resolution: int = 512  # what "resize" inference scales to, as for IN2

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FFCBaselineConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ffc_baseline option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _conv_bn_relu(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, padding_mode="reflect", bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class FFCBaseline(nn.Module):
    """``model(image, mask) -> prediction`` in [0, 1], same call as ``in2.IN2`` for training."""

    def __init__(self, config: FFCBaselineConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = FFCBaselineConfig()
        elif isinstance(config, dict):
            config = FFCBaselineConfig.from_dict(config)
        self.config = c = config
        layers: list[nn.Module] = [_conv_bn_relu(4, c.base_channels, 7)]
        ch = c.base_channels
        for _ in range(c.num_down):
            layers.append(_conv_bn_relu(ch, ch * 2, 3, stride=2))
            ch *= 2
        self.encoder = nn.Sequential(*layers)
        self.blocks = nn.Sequential(*[FFCResBlock(ch, c.ffc_ratio) for _ in range(c.num_blocks)])
        up: list[nn.Module] = []
        for _ in range(c.num_down):
            up += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=False),
                   nn.BatchNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        up += [nn.Conv2d(ch, 3, 7, padding=3, padding_mode="reflect")]
        self.decoder = nn.Sequential(*up)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, **_: Any) -> torch.Tensor:
        h, w = image.shape[-2:]
        m = 2 ** self.config.num_down
        ph, pw = (-h) % m, (-w) % m
        x = torch.cat([image * (1 - mask), mask], dim=1)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        y = torch.sigmoid(self.decoder(self.blocks(self.encoder(x))))
        return y[..., :h, :w]


MODEL_TYPE = "ffc_baseline"  # the config.json marker that tells a baseline export from an IN2 one


def export_config(model: FFCBaseline) -> dict[str, Any]:
    """What ``config.json`` of a baseline export holds."""
    return {"model_type": MODEL_TYPE, **model.config.to_dict()}


def _build(config: dict[str, Any]) -> FFCBaseline:
    config = dict(config)
    if config.pop("model_type", None) != MODEL_TYPE:
        raise WeightsError(f"config.json has no model_type {MODEL_TYPE!r}: not an FFC baseline export")
    try:
        return FFCBaseline(config)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"invalid FFC baseline config: {exc}") from exc


def load_baseline(folder: str | Path) -> FFCBaseline:
    """Load an exported baseline strictly, through the same loader as IN2 (``in2.weights_io``)."""
    return load_pretrained(folder, _build)


def is_baseline_export(folder: str | Path) -> bool:
    try:
        return read_config(Path(folder) / CONFIG_FILE).get("model_type") == MODEL_TYPE
    except WeightsError:
        return False
