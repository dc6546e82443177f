"""Code-switching (the idea of PolyGloss, Tan & Joty 2021): words replaced by their
translations into other languages from bilingual dictionaries. The random variant picks
words and translations at random; the adversarial one searches greedily with the model
(search.py) for the substitutions that lower the gold-label probability most."""

from __future__ import annotations

import itertools
from typing import ClassVar

from pydantic import Field

from xstilts.robustness.perturbations import (
    PerturbContext,
    Perturbed,
    Position,
    WordBudgetPerturbation,
    Words,
    word_budget,
)
from xstilts.robustness.search import GreedyAttack, Substitute
from xstilts.robustness.text import match_case


class CodeSwitch(WordBudgetPerturbation):
    name: ClassVar[str] = "code-switch"
    description: ClassVar[str] = "touched words replaced by dictionary translations into other languages (random)"

    # Embedded languages to translate into; empty: every language the dictionaries reach.
    target_languages: tuple[str, ...] = ()

    def _targets(self, context: PerturbContext) -> list[str]:
        bank = context.dictionaries
        reachable = bank.targets(context.lang) if bank is not None else []
        return [t for t in reachable if not self.target_languages or t in self.target_languages]

    def skip_reason(self, context):
        if not self._targets(context):
            into = f" into {', '.join(self.target_languages)}" if self.target_languages else ""
            return (f"no bilingual dictionary from '{context.lang}'{into} (Debian: apt-get install "
                    "dict-freedict-<lang>-eng or dict-freedict-eng-<lang>; or --dictionary FILE)")
        return super().skip_reason(context)

    def candidates(self, words: Words, context: PerturbContext) -> dict[Position, list[Substitute]]:
        bank = context.dictionaries
        targets = self._targets(context)
        found = {}
        for pos in words.changeable():
            word = words.text(pos)
            substitutes = [Substitute(match_case(word, t.text), t.pair)
                           for t in bank.translations(word, context.lang, targets)]
            if substitutes:
                found[pos] = substitutes
        return found

    def perturb(self, example, rng, context):
        words = self.words(example, context)
        candidates = self.candidates(words, context)
        if not candidates:
            return None
        chosen = rng.sample(sorted(candidates), word_budget(self.strength, words.total, len(candidates)))
        substitutes = {pos: rng.choice(candidates[pos]) for pos in sorted(chosen)}
        return Perturbed(words.replaced({p: s.text for p, s in substitutes.items()}), len(substitutes),
                         words.total, language_pairs=tuple(s.language_pair for s in substitutes.values()))


def _across_languages(substitutes: list[Substitute], limit: int) -> list[Substitute]:
    """The first `limit` substitutes taking one per language pair in turn, so a word's
    candidates cover several languages rather than many synonyms in one."""
    by_pair: dict[str, list[Substitute]] = {}
    for s in substitutes:
        by_pair.setdefault(s.language_pair, []).append(s)
    interleaved = (s for group in itertools.zip_longest(*by_pair.values()) for s in group if s is not None)
    return list(itertools.islice(interleaved, limit))


class AdversarialCodeSwitch(CodeSwitch, GreedyAttack):
    name: ClassVar[str] = "code-switch-adversarial"
    description: ClassVar[str] = "greedy code-switching: the translations that lower the gold probability most"

    candidates_per_word: int = Field(4, ge=1)

    def candidate_finder(self, examples, context):
        return lambda words: {pos: _across_languages(subs, self.candidates_per_word)
                              for pos, subs in self.candidates(words, context).items()}
