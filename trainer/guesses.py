"""Training guesses: teach the generator to correct a coarse fill, as ``in2.coarse_to_fine`` feeds it.

At inference a wide hole is filled coarse to fine: each finer pass starts from the coarser fill,
upsampled, instead of the smooth pre-fill. A weights file that never saw such a start copies its
blocks and rings into streaks. So a share of the training batches start from a guess too: the
hidden truth brought down by a random factor and back up (what a good coarser pass gives), mixed
with the smooth pre-fill by a random amount per sample (a coarser pass that got part of it right).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from in2.nn.prefill import smooth_prefill


@dataclass(frozen=True)
class GuessParams:
    """``share`` of the batches start from a guess; the truth is brought down by a factor drawn
    from ``factors`` and weighs a fraction drawn from ``truth`` against the smooth pre-fill."""

    share: float = 0.0
    factors: tuple[float, float] = (2.0, 4.0)
    truth: tuple[float, float] = (0.5, 1.0)

    @classmethod
    def from_dict(cls, d: dict | None) -> GuessParams:
        d = dict(d or {})
        for key in ("factors", "truth"):
            if key in d:
                d[key] = tuple(float(v) for v in d[key])
        return cls(**d)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.share) <= 1.0:
            raise ValueError(f"train.coarse_guess.share must lie in [0, 1], got {self.share}")
        low, high = self.factors
        if not 1.0 <= low <= high:
            raise ValueError(f"train.coarse_guess.factors must be [low, high], 1 <= low <= high, got {self.factors}")
        low, high = self.truth
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"train.coarse_guess.truth must be [low, high] within [0, 1], got {self.truth}")


def coarse_truth_guess(image: torch.Tensor, mask: torch.Tensor, params: GuessParams) -> torch.Tensor | None:
    """A guess for this batch (``share`` of the time, else None): ``[B,3,H,W]``, the truth at a
    coarser scale mixed with the smooth pre-fill of the hole."""
    if params.share <= 0 or torch.rand(()) >= params.share:
        return None
    height, width = image.shape[-2:]
    factor = float(torch.empty(()).uniform_(*params.factors))
    size = (max(1, round(height / factor)), max(1, round(width / factor)))
    coarse = F.interpolate(F.interpolate(image, size=size, mode="area"), size=(height, width), mode="bilinear",
                           align_corners=False)
    with torch.no_grad():
        smooth = smooth_prefill(image * (1 - mask), mask)
    weight = torch.empty(image.shape[0], 1, 1, 1, device=image.device).uniform_(*params.truth)
    return torch.lerp(smooth, coarse, weight).detach()
