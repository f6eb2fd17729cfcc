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


#: Inclusive bounds of every numeric field. They hold every model the paper and this project
#: describe with room to spare, and keep a hand-edited config.json from building a model
#: that cannot fit in memory or a forward pass that never ends (``prefill_steps``).
LIMITS: dict[str, tuple[float, float]] = {
    "in_channels": (4, 4), "out_channels": (3, 3), "base_channels": (1, 1024), "body_dim": (1, 2048),
    "num_groups": (1, 32), "blocks_per_group": (1, 32), "num_heads": (1, 256), "na_kernel": (1, 63),
    "mlp_ratio": (0.25, 16.0), "cab_alpha": (-100.0, 100.0), "cab_compress": (1, 4096), "cab_squeeze": (1, 4096),
    "ffc_ratio": (0.0, 1.0), "pyramid_levels": (1, 3), "decoder_hidden": (1, 4096), "decoder_layers": (1, 32),
    "min_size": (8, 4096), "train_resolution": (16, 16384), "prefill_steps": (0, 1024),
    "coarse_reach": (0, 4096),
}


def _field_problem(config: IN2Config, name: str) -> str | None:
    """What is wrong with one field's value (its kind, then its bounds), or None."""
    value, kind = getattr(config, name), type(getattr(IN2Config, name))
    if kind is bool or kind is str:
        return None if type(value) is kind else f"{name} must be a {kind.__name__}, got {value!r}"
    whole = kind is int
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not float(value).is_integer()):
        return f"{name} must be a {'whole number' if whole else 'number'}, got {value!r}"
    low, high = LIMITS[name]
    if not low <= value <= high:  # NaN fails too
        return f"{name} must be from {low:g} to {high:g}, got {value!r}"
    return None


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
    # [ours] 0 = one pass; N > 0 = a hole deeper than N pixels is filled coarse to fine
    # (in2.coarse_to_fine), for "smooth" weights trained to correct a coarse guess
    coarse_reach: int = 0

    def __post_init__(self) -> None:
        """Every field checked for its kind and bounds before anything is built: a config.json
        from anywhere must give a finite, buildable model or a one-line reason."""
        for field in dataclasses.fields(self):  # 256.0 in a config.json is the whole number 256
            value = getattr(self, field.name)
            if type(field.default) is int and isinstance(value, float) and value.is_integer():
                setattr(self, field.name, int(value))
        problems = [problem for field in dataclasses.fields(self) if (problem := _field_problem(self, field.name))]
        if not problems:
            if self.body_dim % self.num_heads:
                problems.append(f"body_dim ({self.body_dim}) must be divisible by num_heads ({self.num_heads})")
            if not 0.0 < self.ffc_ratio < 1.0:
                problems.append(f"ffc_ratio must be in (0, 1), got {self.ffc_ratio}")
            if self.hole_prefill not in PREFILL_MODES:
                problems.append(f"hole_prefill must be one of {', '.join(map(repr, PREFILL_MODES))}, "
                                f"got {self.hole_prefill!r}")
            if self.coarse_reach and self.hole_prefill != "smooth":
                problems.append("coarse_reach needs hole_prefill 'smooth' (the guess replaces the smooth pre-fill)")
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
