"""The trained model as a black box: class probabilities for a list of examples, computed with
the evaluation's batched inference (`encode` -> `Collator` -> `predict_logits`)."""

from __future__ import annotations

import torch

from xstilts.evaluation.predict import predict_logits
from xstilts.models.multitask import MultiTaskModel
from xstilts.tasks.example import Example
from xstilts.tasks.spec import TaskSpec
from xstilts.formats import Collator, get_format
from xstilts.training.features import encode


class ModelScorer:
    """Every example scored is one query; attacks count them against their budget."""

    def __init__(self, model: MultiTaskModel, tokenizer, spec: TaskSpec, max_length: int,
                 batch_size: int = 64, device: torch.device = torch.device("cpu")):
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.head = model.trained_head(spec)
        self.collator = Collator(get_format(spec.format), tokenizer.pad_token_id)
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device

    def probabilities(self, examples: list[Example]) -> torch.Tensor:
        """(examples, labels) class probabilities, in the order given."""
        if not examples:
            return torch.empty(0, len(self.spec.labels))
        features = encode(examples, self.tokenizer, self.spec, self.max_length)
        logits = predict_logits(self.model, self.head, features, self.collator, self.batch_size, self.device)
        return logits.softmax(-1)
