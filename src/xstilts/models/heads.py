"""Task heads, registered by task format. An encoder is shared; each head maps pooled
encoder states to one task family's outputs."""

from __future__ import annotations

import torch
from torch import nn

from xstilts.tasks.spec import TaskFormat


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


HEADS: dict[TaskFormat, type[nn.Module]] = {
    "single_classification": ClassificationHead,
    "pair_classification": ClassificationHead,
    "multiple_choice": MultipleChoiceHead,
}
