"""The FFC/LaMa convolutional baseline: the paper's Table 4 generator and the benchmark's yardstick.

A LaMa-"Fourier"-shaped network (Suvorov et al., WACV 2022) built from IN2's own FFC block:
masked RGB + mask -> Conv7x7 stem -> ``num_down`` stride-2 Conv3x3 downsamples ->
``num_blocks`` FFC residual blocks -> as many stride-2 transposed Conv3x3 upsamples ->
Conv7x7 to RGB -> sigmoid. No attention and no implicit decoder: what Table 4 compares.
The defaults (about 27M parameters) are LaMa-Fourier's shape, which is what
``python -m in2.bench --compare lama`` times with random weights; the trainer trains it
(``model.type: ffc_baseline``) and its exports load through ``in2.loader`` like IN2's.
Sizes that are not multiples of ``2**num_down`` are reflect-padded and cropped back, which is
how conv inpainters are run on arbitrary photos.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from .ffc import FFCResBlock


@dataclass
class FFCBaselineConfig:
    base_channels: int = 64
    num_down: int = 3
    num_blocks: int = 9  # LaMa big uses 18; 9 matches LaMa "Fourier"
    ffc_ratio: float = 0.75
    train_resolution: int = 512  # what "resize" inference scales to, as for IN2

    #: Inclusive bounds: LaMa's shapes with room to spare, never a model that cannot be built.
    LIMITS: ClassVar[dict[str, tuple[int, int]]] = {
        "base_channels": (1, 256), "num_down": (1, 5), "num_blocks": (1, 64), "train_resolution": (16, 16384),
    }

    def __post_init__(self) -> None:
        """Each field checked before anything is built (a hand-edited config.json gets a reason)."""
        problems = [f"{name} must be a whole number from {low} to {high}, got {getattr(self, name)!r}"
                    for name, (low, high) in self.LIMITS.items()
                    if type(getattr(self, name)) is not int or not low <= getattr(self, name) <= high]
        ratio = self.ffc_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
            problems.append(f"ffc_ratio must be a number in (0, 1), got {self.ffc_ratio!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FFCBaselineConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise WeightsError(f"unknown ffc_baseline option(s) {sorted(unknown)}; known: {sorted(known)}")
        try:
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise WeightsError(f"invalid FFC baseline config: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _conv_bn_relu(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, padding_mode="reflect", bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class FFCBaseline(nn.Module):
    """``model(image, mask) -> prediction`` in [0, 1], the same call as ``in2.IN2``."""

    model_type = "ffc_baseline"  # what config.json names it by (``in2.model_types.MODEL_TYPES``)

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
        """image [B,3,H,W], mask [B or 1,1,H,W] (1 = hole); IN2's decoding options are ignored."""
        h, w = image.shape[-2:]
        m = 2 ** self.config.num_down
        ph, pw = (-h) % m, (-w) % m
        mask = mask.to(image.dtype).expand(image.shape[0], -1, -1, -1)
        x = torch.cat([image * (1 - mask), mask], dim=1)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        y = torch.sigmoid(self.decoder(self.blocks(self.encoder(x))))
        return y[..., :h, :w]
