"""Aspect-ratio buckets for the Adaptation Training Strategy (ATS), correct under DDP.

IN2 trains on crops of varied aspect ratio whose pixel count stays near ``base^2``. A batch
must hold one shape, so every epoch each image is given one bucket it can reach by trimming
only its margins, each bucket's images are shuffled and cut into *full* batches, and the
batches are shuffled together.

Distributed rules (each one prevents a failure seen with Accelerate's own sharding):
- The global batch sequence depends only on ``seed + epoch``, never on the number of ranks,
  so runs on 1, 2 or 8 GPUs see the same data in the same order (rank ``r`` takes global
  batches ``r, r + n, r + 2n, ...``).
- Only full batches are emitted and the global list is trimmed to a multiple of the rank
  count: every rank gets the same number of whole, single-shape batches (``even_batches``
  padding would otherwise mix shapes).
- The sampler is used directly (not wrapped by ``accelerator.prepare``), so ``set_epoch``
  and the resume position reach it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

# H/W ratios of the default buckets: 9:16 ... 16:9 (portrait 16:9 is H:W = 16:9).
DEFAULT_RATIOS: tuple[float, ...] = (9 / 16, 2 / 3, 3 / 4, 1.0, 4 / 3, 3 / 2, 16 / 9)

Sample = tuple[int, int, int, int]  # (dataset index, height, width, epoch)


def make_buckets(base: int = 512, ratios: Sequence[float] = DEFAULT_RATIOS, multiple: int = 8,
                 enabled: bool = True) -> list[tuple[int, int]]:
    """Bucket shapes ``(H, W)`` with ``H/W ~ ratio`` and ``H*W ~ base^2``.

    ``enabled=False`` is the paper's ablation without ATS: one square bucket ``base x base``.
    """
    if not enabled:
        return [(base, base)]
    out: list[tuple[int, int]] = []
    for r in ratios:
        h = max(multiple, int(round(base * math.sqrt(r) / multiple)) * multiple)
        w = max(multiple, int(round(base / math.sqrt(r) / multiple)) * multiple)
        if (h, w) not in out:
            out.append((h, w))
    return out


def margin_keep(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> float:
    """Fraction of the trimmed side that a margin-only crop to ``dst``'s aspect keeps."""
    a = src_hw[0] / src_hw[1]
    r = dst_hw[0] / dst_hw[1]
    return a / r if r > a else r / a


def eligible_buckets(src_hw: tuple[int, int], buckets: Sequence[tuple[int, int]], min_keep: float) -> list[int]:
    """Buckets an image can be cropped to while keeping ``min_keep`` of its trimmed side.

    An image no bucket fits (a panorama, say) still gets the closest-aspect bucket, so no
    image is silently dropped.
    """
    ok = [i for i, b in enumerate(buckets) if margin_keep(src_hw, b) >= min_keep - 1e-9]
    if ok:
        return ok
    return [max(range(len(buckets)), key=lambda i: margin_keep(src_hw, buckets[i]))]


class BucketBatchSampler:
    """Yields this rank's batches as lists of ``(index, H, W, epoch)`` samples.

    State for exact resume is ``(epoch, start)``, where ``start`` counts the batches of the
    epoch this rank has already consumed.
    """

    def __init__(self, sizes: Sequence[tuple[int, int]], buckets: Sequence[tuple[int, int]], batch_size: int,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0, min_keep: float = 0.55,
                 shuffle: bool = True) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside [0, {num_replicas})")
        self.buckets = [tuple(b) for b in buckets]
        self.batch_size = batch_size
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.choices = [eligible_buckets(tuple(s), self.buckets, min_keep) for s in sizes]
        self.epoch = 0
        self.start = 0
        if len(self) == 0:
            raise ValueError(
                f"{len(sizes)} images give no full batch of {batch_size} per rank over {num_replicas} rank(s) "
                f"and {len(self.buckets)} bucket(s); add images or lower data.batch_size"
            )

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch (its order) and how many of this rank's batches to skip."""
        self.epoch = epoch
        self.start = start

    def global_batches(self, epoch: int) -> list[list[Sample]]:
        """The whole epoch's batches, identical on every rank and for every rank count."""
        rng = np.random.default_rng([self.seed, epoch])
        per_bucket: list[list[int]] = [[] for _ in self.buckets]
        for idx, choices in enumerate(self.choices):
            b = choices[int(rng.integers(len(choices)))] if self.shuffle else choices[0]
            per_bucket[b].append(idx)
        batches: list[list[Sample]] = []
        for b, members in enumerate(per_bucket):
            order = rng.permutation(len(members)) if self.shuffle else np.arange(len(members))
            h, w = self.buckets[b]
            full = len(members) // self.batch_size * self.batch_size
            for i in range(0, full, self.batch_size):
                batches.append([(members[j], h, w, epoch) for j in order[i:i + self.batch_size]])
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        usable = len(batches) // self.num_replicas * self.num_replicas
        return batches[:usable]

    def __len__(self) -> int:
        # The count varies a little between epochs (bucket remainders); use epoch 0's as nominal.
        return len(self.global_batches(self.epoch)) // self.num_replicas

    def __iter__(self) -> Iterator[list[Sample]]:
        mine = self.global_batches(self.epoch)[self.rank::self.num_replicas]
        yield from mine[self.start:]
