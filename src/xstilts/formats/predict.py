"""Batched inference: length-sorted batches, inference mode, outputs back in input order.

Formats name the model only through `TaskModel`, the little of it they use, so this package
sits below `xstilts.models`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch

# (input_ids, attention_mask) of one padded batch -> one output row per input.
BatchForward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SizedInput(Protocol):
    @property
    def length(self) -> int: ...


class TaskModel(Protocol):
    """What formats use of a model with an encoder and named heads (models.MultiTaskModel)."""

    encoder: torch.nn.Module
    training: bool

    def __call__(self, head: str, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor: ...

    def train(self, mode: bool = True) -> torch.nn.Module: ...

    def eval(self) -> torch.nn.Module: ...


@torch.inference_mode()
def batched_outputs(
    model: TaskModel,
    forward: BatchForward,
    features: Sequence[SizedInput],
    collate: Callable[[list], dict[str, torch.Tensor]],
    batch_size: int,
    device: torch.device,
    advance: Callable[[int], None] = lambda n: None,
) -> list[torch.Tensor]:
    """`forward`'s output row for every feature, in the order given (float, on the CPU).
    Sorting by length first keeps padding (wasted compute) small; `model` is put in eval mode
    and restored afterwards."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(features)), key=lambda i: features[i].length)
    out: list[torch.Tensor | None] = [None] * len(features)
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = collate([features[i] for i in idx])
            outputs = forward(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            for i, row in zip(idx, outputs.float().cpu()):
                out[i] = row
            advance(len(idx))
    finally:
        model.train(was_training)
    return out  # type: ignore[return-value]


def head_outputs(
    model: TaskModel,
    head: str,
    features: Sequence[SizedInput],
    collate: Callable[[list], dict[str, torch.Tensor]],
    batch_size: int,
    device: torch.device,
    advance: Callable[[int], None] = lambda n: None,
) -> list[torch.Tensor]:
    """The head's output rows for every feature, in the order given."""
    return batched_outputs(model, lambda ids, mask: model(head, ids, mask), features, collate,
                           batch_size, device, advance)


def predict_logits(model: TaskModel, head: str, features: Sequence[SizedInput],
                   collate: Callable[[list], dict[str, torch.Tensor]], batch_size: int, device: torch.device,
                   advance: Callable[[int], None] = lambda n: None) -> torch.Tensor:
    """(features, labels) logits of a sentence-level head."""
    return torch.stack(head_outputs(model, head, features, collate, batch_size, device, advance))
