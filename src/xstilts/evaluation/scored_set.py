"""The one evaluation path: load -> subset -> encode -> predict -> score.

Zero-shot evaluation, dev selection, transfer curves and the attack scorer all score a
`ScoredSet`: one task's examples in one language, encoded once through the task's format, and
scored with the head of that task (or from encoder states, for formats without a head).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from xstilts.data.loading import DataSettings, LoadReport, load_examples, subset_positions
from xstilts.formats import EvaluationResult, Feature, Format, get_format
from xstilts.formats.features import encode, encode_cached
from xstilts.models.multitask import MultiTaskModel
from xstilts.tasks.example import Example
from xstilts.tasks.spec import Split, TaskSpec

EVAL_BATCH_SIZE = 64


class Subset(NamedTuple):
    """Which examples of a file a `max_examples` subset kept."""

    positions: list[int]  # of the kept examples among the file's, in file order
    total: int  # examples in the file


@dataclass
class ScoredSet:
    """Encoded examples of one task in one language, scored with that task's head."""

    spec: TaskSpec
    language: str
    examples: list[Example]
    features: list[Feature]
    pad_id: int
    report: LoadReport = field(default_factory=lambda: LoadReport(origin="given examples"))
    subset: Subset | None = None  # None: every example of the file

    @classmethod
    def load(cls, spec: TaskSpec, split: Split, language: str, data: DataSettings, max_examples: int | None,
             seed: int, tokenizer, max_length: int, data_spec: TaskSpec | None = None) -> ScoredSet:
        """A seeded subset of the examples of `data_spec`'s files (default: `spec`'s), scored as `spec`."""
        examples, report = load_examples(data_spec or spec, split, language, data)
        kept = subset_positions(len(examples), max_examples, seed)
        scored = cls.of(spec, language, examples if kept is None else [examples[i] for i in kept], tokenizer,
                        max_length, report)
        scored.subset = None if kept is None else Subset(kept, len(examples))
        return scored

    @classmethod
    def of(cls, spec: TaskSpec, language: str, examples: list[Example], tokenizer, max_length: int,
           report: LoadReport | None = None, cache: bool = True) -> ScoredSet:
        """Examples already in hand; `cache=False` for sets made once and never again
        (perturbed examples of an attack)."""
        features = (encode_cached if cache else encode)(examples, tokenizer, spec, max_length)
        return cls(spec, language, examples, features, tokenizer.pad_token_id,
                   report or LoadReport(origin="given examples"))

    @property
    def format(self) -> Format:
        return get_format(self.spec.format)

    def has_head(self, model: MultiTaskModel) -> bool:
        """False while the model has no head for this task (a curve point before its training)."""
        return not self.format.has_head or self.spec.head in model.head_info

    def evaluate(self, model: MultiTaskModel, device: torch.device, batch_size: int = EVAL_BATCH_SIZE,
                 layer: int | None = None, advance: Callable[[int], None] = lambda n: None) -> EvaluationResult:
        """Predictions, prediction rows and scores. `layer` is the encoder layer formats without
        a head embed from (retrieval)."""
        head = model.trained_head(self.spec) if self.format.has_head else None
        return self.format.evaluate(model, head, self.spec, self.examples, self.features, self.pad_id,
                                    batch_size, device, self.language, advance=advance, layer=layer)

    def score(self, model: MultiTaskModel, device: torch.device) -> float | None:
        """The task's first metric (accuracy for classification), or None while the model has
        no head for the task."""
        if not self.has_head(model):
            return None
        return self.evaluate(model, device).scores[self.spec.metrics[0].name]
