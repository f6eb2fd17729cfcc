"""Training guesses: teach the generator to correct a coarse fill, as ``in2.coarse_to_fine`` feeds it.

At inference a wide hole is filled coarse to fine: each finer pass starts from the coarser fill,
upsampled, instead of the smooth pre-fill. A weights file that never saw such a start copies its
blocks and rings into streaks. So a share of the training batches start from a guess too: the
hidden truth brought down by a random factor and back up (what a good coarser pass gives), mixed
with the smooth pre-fill by a random amount per sample (a coarser pass that got part of it right).

A blurred truth is nearly right, so it also teaches that a blur is nearly right. ``source: self``
gives instead what inference gives: a sample whose hole is deeper than the weights' reach starts
from the generator's own coarser passes (``in2.coarse_to_fine.coarse_guess``, no gradient), every
other sample from the pre-fill, so each pass trains on exactly the start it gets in use.
``coarse_view`` trains the coarsest pass on what it sees in use: the whole batch brought down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from in2.coarse_to_fine import MIN_SIDE, Predict, coarse_copy, coarse_guess, coarse_levels
from in2.nn.prefill import smooth_prefill

SOURCES = ("truth", "self")


def _check_share_and_factors(key: str, share: float, factors: tuple[float, float]) -> None:
    if not 0.0 <= float(share) <= 1.0:
        raise ValueError(f"{key}.share must lie in [0, 1], got {share}")
    low, high = factors
    if not 1.0 <= low <= high:
        raise ValueError(f"{key}.factors must be [low, high], 1 <= low <= high, got {factors}")


@dataclass(frozen=True)
class GuessParams:
    """``source: truth``: ``share`` of the batches start from a guess; the truth is brought down
    by a factor drawn from ``factors`` and weighs a fraction drawn from ``truth`` against the
    smooth pre-fill. ``source: self``: ``share`` of the samples whose hole is deeper than the
    weights' ``coarse_reach`` start from the generator's own coarser passes."""

    share: float = 0.0
    factors: tuple[float, float] = (2.0, 4.0)
    truth: tuple[float, float] = (0.5, 1.0)
    source: str = "truth"

    @classmethod
    def from_dict(cls, d: dict | None) -> GuessParams:
        d = dict(d or {})
        for key in ("factors", "truth"):
            if key in d:
                d[key] = tuple(float(v) for v in d[key])
        return cls(**d)

    def __post_init__(self) -> None:
        _check_share_and_factors("train.coarse_guess", self.share, self.factors)
        low, high = self.truth
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"train.coarse_guess.truth must be [low, high] within [0, 1], got {self.truth}")
        if self.source not in SOURCES:
            raise ValueError(f"train.coarse_guess.source must be one of {SOURCES}, got {self.source!r}")


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


def coarse_self_guess(predict: Predict, image: torch.Tensor, mask: torch.Tensor, reach: float, share: float,
                      prefill: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor | None:
    """The start each sample gets at inference: the generator's coarser passes (``predict``, called
    without gradient) where its hole is deeper than ``reach`` (for ``share`` of those samples),
    ``prefill(image, mask)`` elsewhere. None when no sample needs coarse passes (the generator then
    pre-fills the whole batch itself). ``image`` [B,3,H,W], ``mask`` [B,1,H,W] (1 = hole)."""
    height, width = image.shape[-2:]
    levels = [coarse_levels(mask[i], reach, height, width) if torch.rand(()) < share else 0
              for i in range(image.shape[0])]
    if not any(levels):
        return None
    blanked = image * (1 - mask)
    with torch.no_grad():
        starts = [prefill(blanked[i : i + 1], mask[i : i + 1]) if n == 0
                  else coarse_guess(predict, blanked[i : i + 1], mask[i : i + 1], n) for i, n in enumerate(levels)]
    return torch.cat([s.float() for s in starts]).detach()


@dataclass(frozen=True)
class ViewParams:
    """``share`` of the batches are brought down by a factor drawn from ``factors`` (the image
    kept at least ``in2.coarse_to_fine.MIN_SIDE`` a side): the coarsest pass's view."""

    share: float = 0.0
    factors: tuple[float, float] = (2.0, 4.0)

    @classmethod
    def from_dict(cls, d: dict | None) -> ViewParams:
        d = dict(d or {})
        if "factors" in d:
            d["factors"] = tuple(float(v) for v in d["factors"])
        return cls(**d)

    def __post_init__(self) -> None:
        _check_share_and_factors("train.coarse_view", self.share, self.factors)


def coarse_view(image: torch.Tensor, mask: torch.Tensor, params: ViewParams) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch as the coarsest pass of a wide hole sees it (``share`` of the time; else as is).

    Why: at inference a hidden inner face is first filled in a copy a quarter of the photo's size,
    where the face fills the frame and the hole nearly all of it; training crops never look like
    that. The copy is made as ``in2.coarse_to_fine`` makes it: area-averaged, and a pixel partly in
    the hole is a hole."""
    if params.share <= 0 or torch.rand(()) >= params.share:
        return image, mask
    height, width = image.shape[-2:]
    factor = min(float(torch.empty(()).uniform_(*params.factors)), min(height, width) / MIN_SIDE)
    if factor <= 1.0:
        return image, mask
    small, small_mask = coarse_copy(image, mask, (max(1, round(height / factor)), max(1, round(width / factor))))
    return small, small_mask.to(mask.dtype)
