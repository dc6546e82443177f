"""Batch order for training: a seeded permutation per epoch, reproducible and resumable.

The order of epoch e depends only on (seed, e), so a resumed run that skips the batches it
already did sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch

# Examples sorted together when grouping by length: large enough to pair similar lengths,
# small enough that every batch still mixes examples from across the data set.
GROUP_BATCHES = 50


class EpochBatchSampler:
    """Shuffled batches; with `lengths`, batches of similar-length examples (less padding,
    so less wasted compute) whose order is shuffled again."""

    def __init__(self, size: int, batch_size: int, seed: int, lengths: Sequence[int] | None = None):
        if lengths is not None and len(lengths) != size:
            raise ValueError("one length per example is needed to group by length")
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.lengths = lengths
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (self.size + self.batch_size - 1) // self.batch_size

    def batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        if self.lengths is not None:
            group = self.batch_size * GROUP_BATCHES
            order = [i for start in range(0, self.size, group)
                     for i in sorted(order[start:start + group], key=lambda i: -self.lengths[i])]
        batches = [order[start:start + self.batch_size] for start in range(0, self.size, self.batch_size)]
        if self.lengths is not None:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())
