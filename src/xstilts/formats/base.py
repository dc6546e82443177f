"""What a task format is. A format decides, for every task that has it, how a row becomes an
`Example`, how examples become token ids (`encode`) and padded batches (`collate`), which head
turns encoder states into outputs and with what loss it trains, and how outputs become
predictions (`decode`) and scores (`score`). Code outside this package never branches on a
format's name: it asks the task's format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from xstilts.formats.predict import TaskModel, head_outputs
from xstilts.metrics import METRICS
from xstilts.tasks.example import Example
from xstilts.tasks.spec import TaskSpec


class Feature(NamedTuple):
    """Token ids of one model input (a NamedTuple: the feature cache rebuilds tuples several times
    faster than dataclass instances). Formats with more per-input data define their own NamedTuple
    (their `feature_type`) with these two fields first, a `length`, and only ints or tuples of
    ints in its fields, which is what the feature cache stores."""

    # One id list per sequence; multiple choice has one per choice.
    input_ids: tuple[tuple[int, ...], ...]
    label: Any

    @property
    def length(self) -> int:
        return max(len(ids) for ids in self.input_ids)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sequence's hidden states over its real (unpadded) tokens."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each (rows, longest row): dynamic padding."""
    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, ids in enumerate(rows):
        input_ids[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[r, : len(ids)] = 1
    return input_ids, attention_mask


class SubmissionFile(NamedTuple):
    """One language's predictions as an XTREME submission file, `<task>/test-<lang>.<suffix>`
    (what google-research/xtreme's evaluate.py and `xstilts score` read)."""

    suffix: str  # tsv (classification, tagging, retrieval pairs/indices), jsonl (XCOPA) or json (QA, ranked ids)
    text: str


class EvaluationResult(NamedTuple):
    predictions: list[Any]  # one per example, in the format's own terms
    records: list[dict]  # one JSON-able row per example for predictions/<task>/<split>-<lang>.jsonl
    scores: dict[str, float]
    outputs: list[torch.Tensor] = []  # the head's output per feature (formats with a head)


class Format(ABC):
    name: ClassVar[str]
    # A head reads pooled sentence vectors, or every token's hidden state.
    token_level: ClassVar[bool] = False
    # Formats scored from encoder states alone (retrieval) have no head and train nothing.
    has_head: ClassVar[bool] = True
    # The NamedTuple `encode` returns (the feature cache stores and rebuilds its fields).
    feature_type: ClassVar[type] = Feature

    # ------------------------------------------------------------ spec and rows

    @abstractmethod
    def parse(self, spec: TaskSpec, row: dict[str, Any], uid: str) -> Example:
        """A validated example, or BadRow naming what is wrong with the row."""

    # ------------------------------------------------------------ model inputs

    def cache_key(self, spec: TaskSpec) -> str:
        """What besides the examples, tokenizer and length cap decides `encode`'s output."""
        return self.name

    @abstractmethod
    def encode(self, spec: TaskSpec, examples: list[Example], tokenizer, max_length: int) -> list[Feature]:
        """Features in example order (a format may give one example several features)."""

    def collate(self, batch: list[Feature], pad_id: int) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = pad_ids([f.input_ids[0] for f in batch], pad_id)
        return {"input_ids": input_ids, "attention_mask": attention_mask,
                "labels": torch.tensor([f.label for f in batch], dtype=torch.long)}

    # ------------------------------------------------------------ head and loss

    @abstractmethod
    def head(self, hidden_size: int, num_labels: int, dropout: float) -> nn.Module:
        """A new head. Sentence-level heads get (pooled, num_choices); token-level heads get
        (hidden, attention_mask)."""

    def loss(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(outputs.float(), batch["labels"])

    # ------------------------------------------------------------ predictions and scores

    def decode(self, spec: TaskSpec, examples: list[Example], features: list[Feature],
               outputs: list[torch.Tensor]) -> list[Any]:
        """One prediction per example from the outputs of its features (same order as features)."""
        return [int(o.argmax(-1)) for o in outputs]

    def score(self, spec: TaskSpec, examples: list[Example], predictions: list[Any], lang: str) -> dict[str, float]:
        golds = [ex.label for ex in examples]
        return {m.name: METRICS[m.name](golds, predictions, lang) for m in spec.metrics}

    def records(self, spec: TaskSpec, examples: list[Example], predictions: list[Any],
                outputs: list[torch.Tensor]) -> list[dict]:
        """The rows written to the predictions file, one per example."""
        return [{"id": ex.uid, "label": ex.label, "prediction": p} for ex, p in zip(examples, predictions)]

    def submission(self, spec: TaskSpec, examples: list[Example], predictions: list[Any]) -> SubmissionFile | None:
        """This language's predictions in the XTREME submission layout, written by evaluation
        as `xtreme/<task>/<split>-<lang>.<suffix>`; None for a format that has none."""
        return None

    def evaluate(self, model: TaskModel, head: str | None, spec: TaskSpec, examples: list[Example],
                 features: list[Feature], pad_id: int, batch_size: int, device: torch.device, lang: str,
                 advance: Callable[[int], None] = lambda n: None, layer: int | None = None) -> EvaluationResult:
        """Predictions, prediction rows and scores for one language's examples. `layer` (an
        evaluate phase's) is the encoder layer formats without a head embed from; heads ignore it."""
        outputs = head_outputs(model, head, features, Collator(self, pad_id), batch_size, device, advance)
        if self.token_level:  # a token's row per position of the feature itself, not its padding
            outputs = [row[: f.length] for row, f in zip(outputs, features)]
        predictions = self.decode(spec, examples, features, outputs)
        return EvaluationResult(predictions, self.records(spec, examples, predictions, outputs),
                                self.score(spec, examples, predictions, lang), outputs)


class Collator:
    """A format's `collate` with the tokenizer's pad id bound: what batch loops call."""

    def __init__(self, fmt: Format, pad_id: int):
        self.format = fmt
        self.pad_id = pad_id

    def __call__(self, batch: list[Feature]) -> dict[str, torch.Tensor]:
        return self.format.collate(batch, self.pad_id)
