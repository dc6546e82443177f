"""The greedy black-box substitution search shared by the adversarial attacks (TextFooler,
adversarial code-switching); they differ only in where candidate substitutes come from.

For each example:
1. Skip it if the model already gets it wrong (nothing to attack).
2. Rank words by importance: how much deleting each lowers the gold-label probability.
   Ranking costs one query per word, so at most half the budget goes to it; the words left
   out of the ranking (a seeded random choice) are not attacked.
3. For each word in that order, score all its candidates and keep the one that lowers the
   gold probability most, if it lowers it at all. Stop when the prediction flips, when the
   maximum number of words has changed, or when the query budget is spent.

The clean prediction counts as the first query, as in TextAttack. The searches of all
examples of a language advance in lockstep, so every step is one batched pass of the model
over all their queries instead of many passes over a few.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from pydantic import Field

from xstilts.robustness.perturbations import (
    PerturbContext,
    Perturbed,
    Position,
    WordBudgetPerturbation,
    Words,
    example_rng,
    word_budget,
)
from xstilts.robustness.scoring import ModelScorer
from xstilts.tasks.example import Example


@dataclass(frozen=True)
class Substitute:
    text: str
    language_pair: str = ""  # code-switching: "en-de", or "de-en-fr" through English


@dataclass
class GreedySearch:
    """One example's search, advanced by `trials` (the examples to score next) and `update`."""

    words: Words
    candidates: dict[Position, list[Substitute]]
    clean_probabilities: torch.Tensor
    max_changed: int
    query_budget: int
    rng: random.Random
    queries: int = 1
    gold_probability: float = 0.0
    order: list[Position] | None = None  # None until ranked
    chosen: dict[Position, Substitute] = field(default_factory=dict)
    done: bool = False
    _ranked: list[Position] = field(default_factory=list)
    _trying: Position | None = None

    @property
    def gold(self) -> int:
        return self.words.example.label

    def __post_init__(self):
        self.gold_probability = float(self.clean_probabilities[self.gold])
        positions = [p for p, subs in self.candidates.items() if subs]
        self.done = int(self.clean_probabilities.argmax()) != self.gold or not positions
        self.rng.shuffle(positions)
        self._ranked = positions[:max(1, (self.query_budget - self.queries) // 2)]

    def _current(self) -> dict[Position, str]:
        return {p: s.text for p, s in self.chosen.items()}

    def trials(self) -> list[Example]:
        if self.done:
            return []
        if self.order is None:  # importance by deletion first
            return [self.words.replaced({p: ""}) for p in self._ranked]
        remaining = self.query_budget - self.queries
        if len(self.chosen) >= self.max_changed or remaining <= 0 or not self.order:
            self.done = True
            return []
        self._trying = self.order.pop(0)
        options = self.candidates[self._trying][:remaining]
        return [self.words.replaced({**self._current(), self._trying: s.text}) for s in options]

    def update(self, probabilities: torch.Tensor) -> None:
        self.queries += len(probabilities)
        gold = probabilities[:, self.gold]
        if self.order is None:
            self.order = [self._ranked[k] for k in gold.argsort().tolist()]  # most important first
            return
        best = int(gold.argmin())
        if float(gold[best]) < self.gold_probability:
            self.chosen[self._trying] = self.candidates[self._trying][best]
            self.gold_probability = float(gold[best])
            self.done = int(probabilities[best].argmax()) != self.gold

    def result(self) -> Perturbed:
        pairs = tuple(s.language_pair for s in self.chosen.values() if s.language_pair)
        return Perturbed(self.words.replaced(self._current()), len(self.chosen), self.words.total,
                         self.queries, pairs)


def run_searches(searches: list[GreedySearch], scorer: ModelScorer,
                 advance: Callable[[int], None] = lambda n: None) -> list[Perturbed]:
    finished = sum(s.done for s in searches)
    advance(finished)
    while True:
        requests = [(s, s.trials()) for s in searches if not s.done]
        requests = [(s, trials) for s, trials in requests if trials]
        if not requests:
            break
        probabilities = scorer.probabilities([ex for _, trials in requests for ex in trials])
        start = 0
        for search, trials in requests:
            search.update(probabilities[start:start + len(trials)])
            start += len(trials)
        now_finished = sum(s.done for s in searches)
        advance(now_finished - finished)
        finished = now_finished
    advance(len(searches) - finished)
    return [s.result() for s in searches]


class GreedyAttack(WordBudgetPerturbation):
    """A model-dependent attack: the greedy search over the candidates `candidate_finder`
    gives, changing at most `strength` of the words and spending at most `query_budget`
    queries per example."""

    uses_model: ClassVar[bool] = True

    query_budget: int = Field(30, ge=2)

    def candidate_finder(self, examples: list[Example], context: PerturbContext
                         ) -> Callable[[Words], dict[Position, list[Substitute]]]:
        raise NotImplementedError

    def perturb_all(self, examples, context, advance=lambda n: None):
        candidates_of = self.candidate_finder(examples, context)
        searches = []
        for example in examples:
            words = self.words(example, context)
            candidates = candidates_of(words)
            searches.append(GreedySearch(
                words, candidates, context.clean_probabilities[example.uid],
                word_budget(self.strength, words.total, max(len(candidates), 1)), self.query_budget,
                example_rng(self.seed, self.name, context.lang, example.uid)))
        return run_searches(searches, context.scorer, advance)
