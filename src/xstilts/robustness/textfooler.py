"""A black-box word-substitution attack in the manner of TextFooler (Jin et al. 2020), with
no language-specific resource: the substitutes of a word are its nearest neighbours in the
model's own input-embedding space.

It works at the word level. The candidate vocabulary is the tokenizer's vocabulary read as
text: entries that decode to one word of letters in one script (for XLM-R's SentencePiece,
whole words such as `▁cat`, and single Han characters). A word of the text, which the
tokenizer may split into several pieces, is represented by the mean input embedding of its
pieces; its substitutes are the `neighbours` candidate words of the same script with the
highest cosine similarity to that mean (at least `min_similarity`), case variants of the word
excluded. Constraints: at most `strength` of the words change, `protected_words` and the
`frequent_words_kept` most frequent words of the language's examples (in place of a stop-word
list) never change, and the search spends at most `query_budget` model queries per example.

The multilingual embedding space puts translations near a word, so within one script the
substitutes are often words of related languages (`question` -> `questão`, `kysymys`), not
only synonyms and inflections: the attack is partly a code-switching attack by construction.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import ClassVar

import torch
from pydantic import Field

from xstilts.robustness.scoring import ModelScorer
from xstilts.robustness.search import GreedyAttack, Substitute
from xstilts.robustness.text import has_letter, is_word_char, script_of, scripts_in, tokenize

_CHUNK = 256  # words per similarity matrix product


def _single_script_word(text: str) -> bool:
    tokens = tokenize(text)
    return (len(tokens) == 1 and tokens[0].is_word and has_letter(text)
            and all(script_of(c) is not None for c in text) and len(scripts_in(text)) == 1)


class EmbeddingNeighbours:
    """The model's input embeddings, normalised, for the candidate words of each script."""

    def __init__(self, scorer: ModelScorer):
        self.tokenizer = scorer.tokenizer
        self.weight = scorer.model.encoder.get_input_embeddings().weight.detach().float().cpu()
        ids = sorted(i for i in self.tokenizer.get_vocab().values() if i < self.weight.shape[0])
        decoded = [s.strip() for s in self.tokenizer.batch_decode([[i] for i in ids])]
        words = [(i, s) for i, s in zip(ids, decoded) if _single_script_word(s)]
        encodings = self.tokenizer([s for _, s in words], add_special_tokens=False)["input_ids"]
        by_surface: dict[str, int] = {}
        for (i, surface), encoding in zip(words, encodings):
            # Several entries may read the same (`▁cat` and a word-inner `cat`): keep the one the
            # tokenizer produces for the word alone.
            if encoding == [i] or surface not in by_surface:
                by_surface[surface] = i
        grouped: dict[str, list[str]] = {}
        for surface in sorted(by_surface):
            grouped.setdefault(script_of(surface[0]), []).append(surface)
        self.scripts = {
            script: (surfaces, torch.nn.functional.normalize(
                self.weight[torch.tensor([by_surface[s] for s in surfaces])], dim=-1))
            for script, surfaces in grouped.items()
        }

    def word_vector(self, word: str) -> torch.Tensor:
        ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
        # A bare word-start piece (SentencePiece's `▁` before a Han character) says nothing about the word.
        pieces = [i for i in ids if any(map(is_word_char, self.tokenizer.decode([i])))] or ids
        return torch.nn.functional.normalize(self.weight[pieces].mean(0), dim=0)

    def neighbours(self, words: list[str], k: int, min_similarity: float) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        by_script: dict[str, list[str]] = {}
        for word in words:
            by_script.setdefault(script_of(next(c for c in word if script_of(c))), []).append(word)
        for script, group in by_script.items():
            if script not in self.scripts:
                continue
            surfaces, vectors = self.scripts[script]
            for start in range(0, len(group), _CHUNK):
                chunk = group[start:start + _CHUNK]
                similarity = torch.stack([self.word_vector(w) for w in chunk]) @ vectors.T
                top = similarity.topk(min(k + 4, len(surfaces)), dim=-1)  # room for excluded case variants
                for word, values, indices in zip(chunk, top.values.tolist(), top.indices.tolist()):
                    found[word] = [surfaces[j] for v, j in zip(values, indices)
                                   if v >= min_similarity and surfaces[j].lower() != word.lower()][:k]
        return found


@lru_cache(maxsize=1)
def embedding_neighbours(scorer: ModelScorer) -> EmbeddingNeighbours:
    """Built once per model (reading the vocabulary takes seconds for 250k entries)."""
    return EmbeddingNeighbours(scorer)


class TextFooler(GreedyAttack):
    name: ClassVar[str] = "textfooler"
    description: ClassVar[str] = "greedy word substitution with neighbours in the model's input embeddings"

    neighbours: int = Field(4, ge=1)
    min_similarity: float = Field(0.4, ge=-1, le=1)
    # The most frequent words of the language's examples are never substituted: a stand-in for
    # TextFooler's stop-word list that needs no list per language.
    frequent_words_kept: int = Field(30, ge=0)

    def candidate_finder(self, examples, context):
        counts = Counter(w.text(p).lower() for ex in examples for w in [self.words(ex, context)] for p in w.positions)
        kept = {word for word, _ in counts.most_common(self.frequent_words_kept)}
        changeable = lambda words: [p for p in words.changeable() if words.text(p).lower() not in kept]  # noqa: E731
        vocabulary = sorted({w.text(p) for ex in examples for w in [self.words(ex, context)] for p in changeable(w)})
        # All words of the set at once: one matrix product per chunk instead of one per word.
        substitutes = embedding_neighbours(context.scorer).neighbours(vocabulary, self.neighbours, self.min_similarity)
        return lambda words: {p: [Substitute(s) for s in substitutes.get(words.text(p), [])] for p in changeable(words)}
