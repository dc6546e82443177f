"""Which task each batch comes from, and which examples are in it; reproducible and resumable.

`BatchStream`: one task's examples as an endless stream of batches. Batch i depends only on
(seed, i), so a resumed phase that knows how many batches it took continues exactly.

Task samplers: a task drawn per batch with fixed probabilities (uniform, proportional to the
pool size, temperature-scaled with an optional cap as in jiant, or fixed weights), from the
sampler's own seeded generator, whose state goes into the checkpoint.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Protocol

import torch

from xstilts.config import FixedSampler, ProportionalSampler, SamplerConfig, TemperatureSampler, UniformSampler

# Batches whose examples are sorted together when grouping by length: enough to pair similar
# lengths, few enough that every batch still mixes examples from across the data set.
GROUP_BATCHES = 50


class BatchStream:
    """Epoch after epoch of a seeded permutation of `size` examples, cut into batches of exactly
    `batch_size` (a batch may span the end of one epoch and the start of the next, so a budget
    in examples is met exactly). With `lengths`, each window of GROUP_BATCHES batches is sorted
    by length before it is cut (less padding, so less wasted compute) and its batches shuffled."""

    def __init__(self, size: int, batch_size: int, seed: int, lengths: Sequence[int] | None = None):
        if lengths is not None and len(lengths) != size:
            raise ValueError("one length per example is needed to group by length")
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.lengths = lengths
        self._window: tuple[int, list[list[int]]] | None = None
        self._permutation: tuple[int, list[int]] | None = None

    def batch(self, index: int) -> list[int]:
        """The example indices of the stream's `index`-th batch."""
        window, offset = divmod(index, GROUP_BATCHES)
        if self._window is None or self._window[0] != window:
            self._window = (window, self._cut(window))
        return self._window[1][offset]

    def _cut(self, window: int) -> list[list[int]]:
        span = self.batch_size * GROUP_BATCHES
        order = self._examples(window * span, (window + 1) * span)
        if self.lengths is not None:
            order.sort(key=lambda i: -self.lengths[i])
        batches = [order[i:i + self.batch_size] for i in range(0, span, self.batch_size)]
        if self.lengths is None:
            return batches
        # Seeds: even ones for epoch permutations, odd ones for window shuffles.
        generator = torch.Generator().manual_seed(2 * (self.seed * 1_000_003 + window) + 1)
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    def _examples(self, start: int, stop: int) -> list[int]:
        """The examples at stream positions start..stop-1."""
        out: list[int] = []
        for epoch in range(start // self.size, (stop - 1) // self.size + 1):
            base = epoch * self.size
            out += self._epoch_order(epoch)[max(start - base, 0):min(stop - base, self.size)]
        return out

    def _epoch_order(self, epoch: int) -> list[int]:
        if self._permutation is None or self._permutation[0] != epoch:
            generator = torch.Generator().manual_seed(2 * (self.seed * 1_000_003 + epoch))
            self._permutation = (epoch, torch.randperm(self.size, generator=generator).tolist())
        return self._permutation[1]


class TaskSampler(Protocol):
    """Draws the task of each batch. `step` is the index of the draw, for samplers whose
    probabilities change over training (the ones here keep them fixed)."""

    def probs(self, step: int) -> torch.Tensor: ...

    def pop(self, step: int) -> int: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class FixedProbabilitySampler:
    """A task index drawn from constant probabilities with a private generator: never the
    global one, so dropout and masking do not shift the draws, nor the draws shift them."""

    def __init__(self, weights: Sequence[float], seed: int):
        weights = torch.tensor(weights, dtype=torch.float64)
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("sampler weights must be non-negative with a positive sum")
        self._probs = weights / weights.sum()
        self._cumulative = self._probs.cumsum(0).tolist()
        self.generator = torch.Generator().manual_seed(seed)

    def probs(self, step: int) -> torch.Tensor:
        return self._probs

    def pop(self, step: int) -> int:
        # Inverse CDF of one uniform draw (a zero-weight task spans an empty interval).
        u = torch.rand((), generator=self.generator, dtype=torch.float64).item()
        return min(bisect.bisect_right(self._cumulative, u), len(self._cumulative) - 1)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def sampler_weights(config: SamplerConfig, tasks: Sequence[str], sizes: Sequence[int]) -> list[float]:
    """Unnormalised probabilities of the tasks under a sampler config (pool sizes as `n`)."""
    if isinstance(config, UniformSampler):
        return [1.0] * len(tasks)
    if isinstance(config, ProportionalSampler):
        return [float(n) for n in sizes]
    if isinstance(config, TemperatureSampler):
        cap = config.cap or max(sizes)
        return [min(n, cap) ** (1 / config.temperature) for n in sizes]
    if isinstance(config, FixedSampler):
        return [config.weights[task] for task in tasks]
    raise TypeError(f"unknown sampler config {config!r}")


def build_task_sampler(config: SamplerConfig, tasks: Sequence[str], sizes: Sequence[int], seed: int) -> TaskSampler:
    return FixedProbabilitySampler(sampler_weights(config, tasks, sizes), seed)
