"""Task samplers: probabilities from their formulas, draws that match them, the cap, and a
generator state that makes a resumed sampler continue the same sequence."""

from __future__ import annotations

import math

import pytest
import torch

from xstilts.config import FixedSampler, ProportionalSampler, TemperatureSampler, UniformSampler
from xstilts.training.samplers import build_task_sampler

TASKS = ["mnli", "qqp", "sst2"]
SIZES = [9000, 3000, 500]
DRAWS = 10_000


def _frequencies(sampler, draws: int = DRAWS) -> list[float]:
    counts = torch.bincount(torch.tensor([sampler.pop(step) for step in range(draws)]), minlength=len(TASKS))
    return (counts / draws).tolist()


@pytest.mark.parametrize("config,weights", [
    (UniformSampler(type="uniform"), [1, 1, 1]),
    (ProportionalSampler(), SIZES),
    (TemperatureSampler(type="temperature", temperature=2.0), [n ** 0.5 for n in SIZES]),
    (TemperatureSampler(type="temperature", temperature=1.0, cap=2000), [2000, 2000, 500]),
    (TemperatureSampler(type="temperature", temperature=3.0, cap=2000), [2000 ** (1 / 3)] * 2 + [500 ** (1 / 3)]),
    (FixedSampler(type="fixed", weights={"mnli": 1, "qqp": 0, "sst2": 3}), [1, 0, 3]),
])
def test_draws_match_the_formula(config, weights):
    """p(task) = weight / sum of weights exactly, and the frequencies of 10,000 draws (seed 0)
    lie within 4 standard errors of it: 4 sqrt(p (1 - p) / 10000), at most 0.02."""
    expected = [w / sum(weights) for w in weights]
    sampler = build_task_sampler(config, TASKS, SIZES, seed=0)
    assert sampler.probs(0).tolist() == pytest.approx(expected, abs=1e-12)
    for freq, p in zip(_frequencies(sampler), expected):
        assert abs(freq - p) <= 4 * math.sqrt(p * (1 - p) / DRAWS)


def test_the_cap_levels_tasks_larger_than_it():
    """With cap C, a task of n >= C examples weighs like one of exactly C examples: mnli (9000)
    and qqp (3000) are drawn equally often, sst2 (500, under the cap) a quarter as often."""
    capped = build_task_sampler(TemperatureSampler(type="temperature", temperature=1.0, cap=2000), TASKS, SIZES, 1)
    mnli, qqp, sst2 = _frequencies(capped)
    assert abs(mnli - qqp) < 0.02 and abs(sst2 / mnli - 0.25) < 0.02
    uncapped = build_task_sampler(TemperatureSampler(type="temperature", temperature=1.0), TASKS, SIZES, 1)
    assert uncapped.probs(0)[0] == pytest.approx(9000 / 12500)  # no cap: proportional at T = 1


def test_seeded_and_resumable():
    first = build_task_sampler(ProportionalSampler(), TASKS, SIZES, seed=5)
    sequence = [first.pop(step) for step in range(200)]
    again = build_task_sampler(ProportionalSampler(), TASKS, SIZES, seed=5)
    assert [again.pop(step) for step in range(200)] == sequence
    other = build_task_sampler(ProportionalSampler(), TASKS, SIZES, seed=6)
    assert [other.pop(step) for step in range(200)] != sequence

    interrupted = build_task_sampler(ProportionalSampler(), TASKS, SIZES, seed=5)
    head = [interrupted.pop(step) for step in range(80)]
    saved = interrupted.state_dict()
    resumed = build_task_sampler(ProportionalSampler(), TASKS, SIZES, seed=5)
    resumed.load_state_dict(saved)
    assert head + [resumed.pop(step) for step in range(80, 200)] == sequence
