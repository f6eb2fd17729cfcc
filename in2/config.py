"""Model hyper-parameters.

One dataclass so a checkpoint's `config.json` fully determines the architecture, and the
ablations of the paper (Table 7) stay a matter of flipping fields instead of editing code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import WeightsError
from .options import PREFILL_MODES

#: Keys older config.json files spell differently -> their name now (read, never written).
_RENAMED = {"factorized_decoder": "factorised_decoder"}


@dataclass
class IN2Config:
    """Architecture of an IN2 generator (defaults = the paper model, 15.26M parameters).

    Fields marked [ours] in docs/architecture.md are not fixed by the paper; they are kept
    configurable so ablations remain reproducible.
    """

    in_channels: int = 4  # masked RGB + mask
    out_channels: int = 3
    base_channels: int = 64  # stem / DPB1 width; DPB2 = 2x; DPB3 = body_dim
    body_dim: int = 256
    # attention body (HAT layout, neighborhood attention)
    use_attention_body: bool = True  # False = Table 7 ablation: FFC blocks instead of NHAB groups
    num_groups: int = 2
    blocks_per_group: int = 4
    num_heads: int = 8
    na_kernel: int = 7
    mlp_ratio: float = 4.0
    cab_alpha: float = 0.03
    cab_compress: int = 3  # CAB bottleneck = C // cab_compress
    cab_squeeze: int = 30  # channel attention bottleneck = C // cab_squeeze
    # encoder (FFC residual blocks inside each DPB)
    ffc_ratio: float = 0.75
    # implicit decoder (LIIF-style INRBs)
    pyramid_levels: int = 3  # 1 = Table 7 ablation: a single INRB from the body to full size
    decoder_hidden: int = 256
    decoder_layers: int = 4  # hidden Linear+ReLU layers before the output Linear
    factorised_decoder: bool = True  # exact fast form of the first decoder layer
    # input handling
    min_size: int = 16  # smaller sides are replicate-padded to this, then cropped back
    train_resolution: int = 512  # pixel side used by the pipeline's "resize" mode
    # [ours] "zeros" = the paper's input (hole blanked); "smooth" = the hole pre-filled from its
    # surroundings (the smooth pre-fill, in2.nn.prefill) and the decoder predicting a correction to it
    hole_prefill: str = "zeros"
    prefill_steps: int = 64  # relaxation steps per pyramid level of the "smooth" pre-fill

    def __post_init__(self) -> None:
        problems = []
        if self.body_dim % self.num_heads:
            problems.append(f"body_dim ({self.body_dim}) must be divisible by num_heads ({self.num_heads})")
        if self.na_kernel < 1:
            problems.append(f"na_kernel must be >= 1, got {self.na_kernel}")
        if not 1 <= self.pyramid_levels <= 3:
            problems.append(f"pyramid_levels must be 1, 2 or 3, got {self.pyramid_levels}")
        if not 0.0 < self.ffc_ratio < 1.0:
            problems.append(f"ffc_ratio must be in (0, 1), got {self.ffc_ratio}")
        if self.min_size < 8:
            problems.append(f"min_size must be >= 8 so the 1/8 level keeps 2 pixels, got {self.min_size}")
        if self.decoder_layers < 1:
            problems.append(f"decoder_layers must be >= 1, got {self.decoder_layers}")
        if self.hole_prefill not in PREFILL_MODES:
            problems.append(
                f"hole_prefill must be one of {', '.join(map(repr, PREFILL_MODES))}, got {self.hole_prefill!r}"
            )
        if self.prefill_steps < 0:
            problems.append(f"prefill_steps must be >= 0, got {self.prefill_steps}")
        if problems:
            raise ValueError("invalid IN2Config: " + "; ".join(problems))

    @classmethod
    def tiny(cls, **overrides: Any) -> IN2Config:
        """A few hundred thousand parameters: unit tests and smoke training on CPU."""
        base = dict(
            base_channels=8, body_dim=48, num_groups=1, blocks_per_group=2, num_heads=2,
            mlp_ratio=2.0, cab_squeeze=8, decoder_hidden=48, decoder_layers=2,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def small(cls, **overrides: Any) -> IN2Config:
        """About 2M parameters: the bundled demo weights (a few MB as fp16)."""
        base = dict(
            base_channels=32, body_dim=128, num_groups=2, blocks_per_group=2, num_heads=4,
            mlp_ratio=2.0, cab_squeeze=16, decoder_hidden=128, decoder_layers=3,
        )
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (what `config.json` holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IN2Config:
        """Build from a dict; unknown keys are an error because they mean another architecture."""
        if not isinstance(data, dict):
            raise WeightsError(f"IN2 config must be a JSON object, got {type(data).__name__}")
        data = {_RENAMED.get(key, key): value for key, value in data.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WeightsError(
                f"unknown IN2 config key(s) {unknown}: not fields of IN2Config, so this config was written "
                f"for a different model or version. Known keys: {sorted(known)}"
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise WeightsError(f"invalid IN2 config: {exc}") from exc
