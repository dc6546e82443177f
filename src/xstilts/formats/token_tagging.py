"""Token tagging (UD-POS, PAN-X/WikiANN NER, CCG supertagging): one tag per word.

An example's `texts` are its words and its `label` one tag index (into the spec's labels) per
word. Words are tokenized with `is_split_into_words`; as in XTREME, a word's tag sits on its
first sub-word and every other position (later sub-words, special tokens) is -100, which the
loss ignores, and a word is predicted by the argmax at its first sub-word.

Long sentences: one longer than `max_length` is split between words into pieces that fit, each
its own model input (XTREME's preprocessing splits such sentences the same way), so every word
is predicted and scored. A word the tokenizer turns into no token at all has no position to
predict from; it is predicted as the spec's first label ("O" for NER, which lists it first) and
still counts in every score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import torch
from torch import nn

from xstilts.errors import XstiltsError
from xstilts.formats.base import Format, SubmissionFile, pad_ids
from xstilts.metrics import METRICS
from xstilts.tasks.example import BadRow, Example

IGNORE = -100  # label of positions that are no word's first sub-word


class TaggingFeature(NamedTuple):
    """One model input: a sentence, or a piece of a long one."""

    input_ids: tuple[tuple[int, ...]]
    label: tuple[int, ...]  # per token: the word's tag index on its first sub-word, IGNORE elsewhere
    word_starts: tuple[int, ...]  # per word of the piece: its first sub-word's position, -1 if none

    @property
    def length(self) -> int:
        return len(self.input_ids[0])


class TaggingHead(nn.Module):
    """Every token's hidden state -> one logit per tag."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden))


@lru_cache(maxsize=16)
def _tag_indices(labels: tuple[str, ...]) -> dict[str, int]:
    return {name: i for i, name in enumerate(labels)}


def _allowed(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:20])
    return shown if len(labels) <= 20 else f"{shown}, ... ({len(labels)} tags, or their indices)"


def _word_list(row: dict[str, Any], name: str) -> list:
    if name not in row:
        raise BadRow(f"missing field '{name}' (fields present: {', '.join(map(str, row))})")
    value = row[name]
    if not isinstance(value, (list, tuple)) or not value:
        raise BadRow(f"field '{name}' is not a non-empty list")
    return list(value)


def _pieces(subword_counts: list[int], budget: int) -> list[tuple[int, int]]:
    """Consecutive word ranges [start, end) whose sub-words fit in `budget`; a word longer than
    the budget is a piece of its own (truncated, its first sub-word kept)."""
    pieces, start, used = [], 0, 0
    for w, count in enumerate(subword_counts):
        if used + count > budget and w > start:
            pieces.append((start, w))
            start, used = w, 0
        used += count
    return pieces + [(start, len(subword_counts))]


def _feature(input_ids: list[int], word_ids: list[int | None], tags: Sequence[int]) -> TaggingFeature:
    labels = [IGNORE] * len(input_ids)
    starts = [-1] * len(tags)
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            labels[position] = tags[word]
            starts[word] = position
        previous = word
    return TaggingFeature((tuple(input_ids),), tuple(labels), tuple(starts))


class TokenTagging(Format):
    name = "token_tagging"
    token_level = True
    feature_type = TaggingFeature

    def parse(self, spec, row, uid):
        """Words and tags are equally long lists; a tag is a label name or an index into the
        labels (jiant's CCG ids, a Hub's tag ints when it names no ClassLabel)."""
        words_field, tags_field = spec.inputs.texts[0], spec.inputs.label
        words, tags = _word_list(row, words_field), _word_list(row, tags_field)
        if not all(isinstance(word, str) for word in words):
            raise BadRow(f"field '{words_field}' holds something that is not a word (text)")
        if len(tags) != len(words):
            raise BadRow(f"{len(words)} words in '{words_field}' but {len(tags)} tags in '{tags_field}'")
        indices = _tag_indices(tuple(spec.labels))
        label = []
        for position, tag in enumerate(tags, start=1):
            if isinstance(tag, str) and tag in indices:
                label.append(indices[tag])
            elif isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < len(spec.labels):
                label.append(tag)
            else:
                raise BadRow(f"tag {tag!r} of word {position} is not in the tag set ({_allowed(spec.labels)})")
        return Example(uid=uid, texts=tuple(words), label=tuple(label))

    def encode(self, spec, examples, tokenizer, max_length):
        if not getattr(tokenizer, "is_fast", False):
            raise XstiltsError("token_tagging needs a fast (Rust) tokenizer: it maps sub-words to words")
        # Whole sentences first; the few longer than max_length are encoded again in pieces.
        whole = tokenizer([list(ex.texts) for ex in examples], is_split_into_words=True)
        budget = max_length - tokenizer.num_special_tokens_to_add()
        features: list[TaggingFeature] = []
        for i, ex in enumerate(examples):
            word_ids = whole.word_ids(i)
            if len(word_ids) <= max_length:
                features.append(_feature(whole["input_ids"][i], word_ids, ex.label))
                continue
            counts = Counter(w for w in word_ids if w is not None)
            pieces = _pieces([counts[w] for w in range(len(ex.texts))], budget)
            encoded = tokenizer([list(ex.texts[a:b]) for a, b in pieces], is_split_into_words=True,
                                truncation=True, max_length=max_length)
            features += [_feature(encoded["input_ids"][k], encoded.word_ids(k), ex.label[a:b])
                         for k, (a, b) in enumerate(pieces)]
        return features

    def collate(self, batch, pad_id):
        input_ids, attention_mask = pad_ids([f.input_ids[0] for f in batch], pad_id)
        labels = torch.full(input_ids.shape, IGNORE, dtype=torch.long)
        for r, f in enumerate(batch):
            labels[r, : len(f.label)] = torch.tensor(f.label, dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    def head(self, hidden_size, num_labels, dropout):
        return TaggingHead(hidden_size, num_labels, dropout)

    def loss(self, outputs, batch):
        labels = batch["labels"].flatten()
        total = nn.functional.cross_entropy(outputs.float().flatten(0, 1), labels, ignore_index=IGNORE,
                                            reduction="sum")
        # The mean over tagged positions; a batch with none (all its words dropped by the
        # tokenizer) gives 0, not the NaN of an empty mean.
        return total / (labels != IGNORE).sum().clamp(min=1)

    def decode(self, spec, examples, features, outputs):
        """Tag names per example, from its features in order (several for a split sentence)."""
        pieces = iter(zip(features, outputs))
        predictions = []
        for ex in examples:
            tags: list[str] = []
            while len(tags) < len(ex.texts):
                feature, output = next(pieces)
                best = output.argmax(-1).tolist()
                tags += [spec.labels[best[p]] if p >= 0 else spec.labels[0] for p in feature.word_starts]
            predictions.append(tuple(tags))
        return predictions

    def score(self, spec, examples, predictions, lang):
        golds = [tuple(spec.labels[i] for i in ex.label) for ex in examples]
        return {m.name: METRICS[m.name](golds, predictions, lang) for m in spec.metrics}

    def records(self, spec, examples, predictions, outputs):
        return [{"id": ex.uid, "words": list(ex.texts), "label": [spec.labels[i] for i in ex.label],
                 "prediction": list(p)} for ex, p in zip(examples, predictions)]

    def submission(self, spec, examples, predictions):
        # XTREME's tagging label files: a tag per line, a blank line after each sentence.
        return SubmissionFile("tsv", "".join("".join(f"{tag}\n" for tag in tags) + "\n" for tags in predictions))
