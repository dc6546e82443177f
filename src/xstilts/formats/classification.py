"""Sentence and sentence-pair classification (SST-2, MNLI, QQP, XNLI, PAWS-X), and multiple
choice (COPA, XCOPA, HellaSwag, ...), which scores each (context, choice) pair and picks the
best. Heads read the pooled sentence vector."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from xstilts.formats.base import Feature, Format, SubmissionFile, pad_ids
from xstilts.tasks.example import BadRow, Example, label_index, text_field, text_list_field


class ClassificationHead(nn.Module):
    """Pooled sentence (or sentence pair) -> one logit per label."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, pooled: torch.Tensor, num_choices: int | None = None) -> torch.Tensor:
        hidden = torch.tanh(self.dense(self.dropout(pooled)))
        return self.out(self.dropout(hidden))


class MultipleChoiceHead(nn.Module):
    """Each (context, choice) pair -> one score; the scores of an example's choices are its logits."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(hidden_size, 1)

    def forward(self, pooled: torch.Tensor, num_choices: int | None = None) -> torch.Tensor:
        return self.score(self.dropout(pooled)).view(-1, num_choices)


class _LabelledFormat(Format):
    """Formats whose prediction is one label index per example."""

    def records(self, spec, examples, predictions, outputs):
        return [{"id": ex.uid, "label": spec.labels[ex.label], "prediction": spec.labels[p],
                 "probabilities": [round(x, 5) for x in o.softmax(-1).tolist()]}
                for ex, p, o in zip(examples, predictions, outputs)]

    def submission(self, spec, examples, predictions):
        if spec.submission_file == "jsonl":  # XTREME-R's XCOPA: {"label": index}, with the example's id
            return SubmissionFile("jsonl", "".join(json.dumps({"id": ex.uid, "label": p}, ensure_ascii=False) + "\n"
                                                   for ex, p in zip(examples, predictions)))
        # One predicted label per line, as XTREME's label files write labels.
        names = spec.submission_labels or spec.labels
        return SubmissionFile("tsv", "".join(f"{names[p]}\n" for p in predictions))


class Classification(_LabelledFormat):
    def __init__(self, name: str, n_texts: int):
        self.name = name  # type: ignore[misc]
        self.n_texts = n_texts

    def parse(self, spec, row: dict[str, Any], uid: str) -> Example:
        label = label_index(spec.labels, row.get(spec.inputs.label), spec.inputs.label_offset)
        return Example(uid=uid, texts=tuple(text_field(row, name) for name in spec.inputs.texts), label=label)

    def encode(self, spec, examples, tokenizer, max_length):
        # One batched call per input column: fast tokenizers parallelise it.
        firsts = [ex.texts[0] for ex in examples]
        seconds = [ex.texts[1] for ex in examples] if self.n_texts == 2 else None
        ids = tokenizer(firsts, seconds, truncation=True, max_length=max_length)["input_ids"]
        return [Feature((tuple(i),), ex.label) for i, ex in zip(ids, examples)]

    def head(self, hidden_size, num_labels, dropout):
        return ClassificationHead(hidden_size, num_labels, dropout)


class MultipleChoice(_LabelledFormat):
    name = "multiple_choice"

    def parse(self, spec, row, uid):
        inputs = spec.inputs
        label = label_index(spec.labels, row.get(inputs.label), inputs.label_offset)
        context = text_field(row, inputs.context)
        if inputs.question:
            question = text_field(row, inputs.question)
            if inputs.question_templates:
                if question not in inputs.question_templates:
                    raise BadRow(f"question {question!r} is not one of {', '.join(inputs.question_templates)}")
                question = inputs.question_templates[question]
            context = f"{context} {question}"
        if inputs.choices_field:
            choices = text_list_field(row, inputs.choices_field)
            if len(choices) != len(spec.labels):
                raise BadRow(f"field '{inputs.choices_field}' has {len(choices)} choices; "
                             f"the task has {len(spec.labels)} ({', '.join(spec.labels)})")
        else:
            choices = tuple(text_field(row, name) for name in inputs.choices)
        return Example(uid=uid, texts=(context,), label=label, choices=choices)

    def encode(self, spec, examples, tokenizer, max_length):
        n_choices = len(examples[0].choices)
        firsts = [ex.texts[0] for ex in examples for _ in range(n_choices)]
        seconds = [choice for ex in examples for choice in ex.choices]
        ids = tokenizer(firsts, seconds, truncation=True, max_length=max_length)["input_ids"]
        return [Feature(tuple(tuple(i) for i in ids[k * n_choices:(k + 1) * n_choices]), ex.label)
                for k, ex in enumerate(examples)]

    def collate(self, batch, pad_id):
        input_ids, attention_mask = pad_ids([ids for f in batch for ids in f.input_ids], pad_id)
        shape = (len(batch), -1, input_ids.shape[-1])  # (examples, choices, length)
        return {"input_ids": input_ids.view(shape), "attention_mask": attention_mask.view(shape),
                "labels": torch.tensor([f.label for f in batch], dtype=torch.long)}

    def head(self, hidden_size, num_labels, dropout):
        return MultipleChoiceHead(hidden_size, num_labels, dropout)
