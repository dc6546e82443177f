"""Span extraction: extractive question answering (SQuAD, XQuAD, MLQA, TyDiQA-GoldP).

An example's `texts` are (question, context) and its `label` the gold answers, a tuple of
(text, character start in the context) pairs; an empty tuple means "no answer" (SQuAD 2.0).

A long context is cut into overlapping windows (the standard BERT/XTREME recipe): each window is
one feature, "question, context part" with the tokenizer's special tokens, and trains the head to
point at the answer's first and last token, or at position 0 (the first special token) when the
answer is not wholly inside the window. An example's prediction is the best span over all its
windows (top `n_best` starts x top `n_best` ends, end not before start, at most
`max_answer_length` tokens, context tokens only), mapped back to characters of the context. With
`spans.allow_no_answer` the prediction is "" when the null score (start + end logit at position
0, the lowest over the windows) is higher than the best span's (threshold 0).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, NamedTuple

import torch
from torch import nn

from xstilts.errors import XstiltsError
from xstilts.formats.base import Format, SubmissionFile, pad_ids
from xstilts.tasks.example import BadRow, Example, text_field

Answer = tuple[str, int]  # text and character start in the context


class SpanFeature(NamedTuple):
    """One window of a context with its question."""

    input_ids: tuple[tuple[int, ...]]
    label: tuple[int, int]  # answer's first and last token in the window; (0, 0): not in it
    example: int  # index of the window's example in the list encoded
    context_start: int  # position of the window's first context token
    offsets: tuple[tuple[int, int], ...]  # character span in the context of each context token

    @property
    def length(self) -> int:
        return len(self.input_ids[0])


class SpanHead(nn.Module):
    """Every token -> (start logit, end logit), as in BERT's SQuAD head; padding never wins."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.out = nn.Linear(hidden_size, 2)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.out(hidden)
        return logits.masked_fill(attention_mask.unsqueeze(-1) == 0, torch.finfo(logits.dtype).min)


def _answers(value: Any) -> tuple[Answer, ...]:
    """Answers as (text, start) pairs from a SQuAD JSON list of {"text", "answer_start"} or a
    Hub column {"text": [...], "answer_start": [...]}."""
    if isinstance(value, dict) and isinstance(value.get("text"), list) and isinstance(value.get("answer_start"), list):
        if len(value["text"]) != len(value["answer_start"]):
            raise BadRow("answers has different numbers of 'text' and 'answer_start' values")
        pairs = list(zip(value["text"], value["answer_start"]))
    elif isinstance(value, list) and all(isinstance(a, dict) for a in value):
        pairs = [(a.get("text"), a.get("answer_start")) for a in value]
    else:
        raise BadRow('answers must be a list of {"text", "answer_start"} objects or '
                     '{"text": [...], "answer_start": [...]}')
    for text, start in pairs:
        if not isinstance(text, str) or not text or isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise BadRow(f"answer {text!r} at {start!r}: needs a non-empty text and a character start >= 0")
    return tuple(pairs)


def _token_span(offsets: tuple[tuple[int, int], ...], answer: Answer) -> tuple[int, int] | None:
    """First and last context token of the answer, or None when the window does not hold all of it."""
    start_char = answer[1]
    end_char = start_char + len(answer[0])
    if not offsets or offsets[0][0] > start_char or offsets[-1][1] < end_char:
        return None
    first = next(j for j, (_, end) in enumerate(offsets) if end > start_char)
    last = max(j for j, (start, _) in enumerate(offsets) if start < end_char)
    return (first, last) if first <= last else None


class SpanExtraction(Format):
    name = "span_extraction"
    token_level = True
    feature_type = SpanFeature

    def parse(self, spec, row, uid) -> Example:
        inputs = spec.inputs
        question = text_field(row, inputs.question)
        context = text_field(row, inputs.context)
        if inputs.label not in row:
            raise BadRow(f"missing field '{inputs.label}' (fields present: {', '.join(map(str, row))})")
        answers = _answers(row[inputs.label])
        if not answers and not spec.spans.allow_no_answer:
            raise BadRow("no answer, but this task has one for every question (spans.allow_no_answer is false)")
        if any(start > len(context) for _, start in answers):
            raise BadRow("an answer starts after the end of the context")
        row_id = row.get("id")
        return Example(uid=row_id if isinstance(row_id, str) and row_id else uid, texts=(question, context),
                       label=answers)

    def cache_key(self, spec) -> str:
        return f"{self.name}|query {spec.spans.max_query_length}|stride {spec.spans.doc_stride}"

    # ------------------------------------------------------------ windows

    def encode(self, spec, examples, tokenizer, max_length):
        if not getattr(tokenizer, "is_fast", False):
            raise XstiltsError("span_extraction needs a fast (Rust) tokenizer: it maps tokens back to characters")
        settings = spec.spans
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        # SQuAD has questions with leading spaces; they only waste tokens.
        questions = self._cut_questions([ex.texts[0].lstrip() for ex in examples], tokenizer,
                                        max(1, min(settings.max_query_length, (max_length - specials) // 2)))
        question_lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
        # The tokenizer's `stride` is the overlap of consecutive windows, which for a fixed step
        # depends on the question's length: one call per overlap.
        by_overlap: dict[int, list[int]] = defaultdict(list)
        for index, q_length in enumerate(question_lengths):
            room = max_length - specials - q_length  # context tokens per window
            if room < 2:
                raise XstiltsError(f"max_length {max_length} leaves no room for a context after a "
                                   f"{q_length}-token question; raise max_length")
            by_overlap[room - min(settings.doc_stride, room // 2)].append(index)
        features: list[SpanFeature] = []
        for overlap, indices in by_overlap.items():
            encoded = tokenizer([questions[i] for i in indices], [examples[i].texts[1] for i in indices],
                                truncation="only_second", max_length=max_length, stride=overlap,
                                return_overflowing_tokens=True, return_offsets_mapping=True)
            for window, (ids, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"])):
                index = indices[encoded["overflow_to_sample_mapping"][window]]
                sequence_ids = encoded.sequence_ids(window)
                context = [pos for pos, seq in enumerate(sequence_ids) if seq == 1]
                if not context:
                    continue  # a context of nothing but characters the tokenizer drops
                context_offsets = tuple(tuple(offsets[pos]) for pos in context)
                span = _token_span(context_offsets, examples[index].label[0]) if examples[index].label else None
                label = (context[0] + span[0], context[0] + span[1]) if span else (0, 0)
                features.append(SpanFeature((tuple(ids),), label, index, context[0], context_offsets))
        # Example order, each example's windows in context order (the sort is stable).
        features.sort(key=lambda f: f.example)
        return features

    @staticmethod
    def _cut_questions(questions: list[str], tokenizer, max_tokens: int) -> list[str]:
        """Each question cut after its `max_tokens`-th token."""
        encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        return [q if len(offsets) <= max_tokens else q[:offsets[max_tokens - 1][1]]
                for q, offsets in zip(questions, encoded["offset_mapping"])]

    def collate(self, batch, pad_id):
        input_ids, attention_mask = pad_ids([f.input_ids[0] for f in batch], pad_id)
        return {"input_ids": input_ids, "attention_mask": attention_mask,
                "labels": torch.tensor([f.label for f in batch], dtype=torch.long)}

    # ------------------------------------------------------------ head and loss

    def head(self, hidden_size, num_labels, dropout):
        return SpanHead(hidden_size)

    def loss(self, outputs, batch):
        """Mean of the start and end cross-entropies; outputs are (batch, length, 2)."""
        logits = outputs.float()
        start = nn.functional.cross_entropy(logits[..., 0], batch["labels"][:, 0])
        end = nn.functional.cross_entropy(logits[..., 1], batch["labels"][:, 1])
        return (start + end) / 2

    # ------------------------------------------------------------ predictions

    def decode(self, spec, examples, features, outputs):
        settings = spec.spans
        best: list[tuple[float, str]] = [(float("-inf"), "")] * len(examples)
        null = [float("inf")] * len(examples)
        for feature, output in zip(features, outputs):
            index = feature.example
            null[index] = min(null[index], float(output[0, 0] + output[0, 1]))
            span = self._best_span(feature, output, examples[index].texts[1], settings)
            if span is not None and span[0] > best[index][0]:
                best[index] = span
        return ["" if settings.allow_no_answer and null_score > score else text
                for (score, text), null_score in zip(best, null)]

    @staticmethod
    def _best_span(feature: SpanFeature, output: torch.Tensor, context: str, settings) -> tuple[float, str] | None:
        """(score, text) of the window's best allowed span, or None when it allows none."""
        first = feature.context_start
        starts = output[first:first + len(feature.offsets), 0]
        ends = output[first:first + len(feature.offsets), 1]
        k = min(settings.n_best, len(feature.offsets))
        if k == 0:
            return None
        top_starts, top_ends = starts.topk(k), ends.topk(k)
        scores = top_starts.values[:, None] + top_ends.values[None, :]
        lengths = top_ends.indices[None, :] - top_starts.indices[:, None]
        allowed = (lengths >= 0) & (lengths < settings.max_answer_length)
        if not allowed.any():
            return None
        pick = int(scores.masked_fill(~allowed, float("-inf")).argmax())
        start = int(top_starts.indices[pick // k])
        end = int(top_ends.indices[pick % k])
        return float(scores.view(-1)[pick]), context[feature.offsets[start][0]:feature.offsets[end][1]]

    def records(self, spec, examples, predictions, outputs):
        return [{"id": ex.uid, "answers": [text for text, _ in ex.label], "prediction": p}
                for ex, p in zip(examples, predictions)]

    def submission(self, spec, examples, predictions):
        """XTREME's QA submission: one JSON object {question id: answer text}."""
        return SubmissionFile("json", json.dumps({ex.uid: p for ex, p in zip(examples, predictions)},
                                                 ensure_ascii=False))
