"""The trained model as a black box: class probabilities for a list of examples, computed on
the evaluation path (`ScoredSet`)."""

from __future__ import annotations

import torch

from xstilts.evaluation.scored_set import ScoredSet
from xstilts.models.multitask import MultiTaskModel
from xstilts.tasks.example import Example
from xstilts.tasks.spec import TaskSpec


class ModelScorer:
    """Every example scored is one query; attacks count them against their budget."""

    def __init__(self, model: MultiTaskModel, tokenizer, spec: TaskSpec, max_length: int,
                 batch_size: int = 64, device: torch.device = torch.device("cpu")):
        model.trained_head(spec)  # one line now, not at the first query, when the head is missing
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device

    def probabilities(self, examples: list[Example]) -> torch.Tensor:
        """(examples, labels) class probabilities, in the order given."""
        if not examples:
            return torch.empty(0, len(self.spec.labels))
        # Perturbed examples are made once: not worth a cache entry each.
        scored = ScoredSet.of(self.spec, "", examples, self.tokenizer, self.max_length, cache=False)
        return torch.stack(scored.evaluate(self.model, self.device, self.batch_size).outputs).softmax(-1)
