"""Batched inference: length-sorted batches, inference mode, outputs back in input order."""

from __future__ import annotations

from typing import Callable

import torch

from xstilts.formats import Collator, Feature, get_format
from xstilts.models.multitask import MultiTaskModel

# (input_ids, attention_mask) of one padded batch -> one output row per input.
BatchForward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.inference_mode()
def batched_outputs(
    model: torch.nn.Module,
    forward: BatchForward,
    features: list[Feature],
    collator: Collator,
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
            batch = collator([features[i] for i in idx])
            outputs = forward(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            for i, row in zip(idx, outputs.float().cpu()):
                out[i] = row
            advance(len(idx))
    finally:
        model.train(was_training)
    return out  # type: ignore[return-value]


def predict_outputs(
    model: MultiTaskModel,
    head: str,
    features: list[Feature],
    collator: Collator,
    batch_size: int,
    device: torch.device,
    advance: Callable[[int], None] = lambda n: None,
) -> list[torch.Tensor]:
    """The head's outputs for every feature, in the order given; token-level outputs are cut to
    the feature's own length (no padding positions)."""
    outputs = batched_outputs(model, lambda ids, mask: model(head, ids, mask), features, collator,
                              batch_size, device, advance)
    if get_format(model.head_info[head].format).token_level:
        return [row[: f.length] for row, f in zip(outputs, features)]
    return outputs


def predict_logits(model: MultiTaskModel, head: str, features: list[Feature], collator: Collator,
                   batch_size: int, device: torch.device,
                   advance: Callable[[int], None] = lambda n: None) -> torch.Tensor:
    """(features, labels) logits of a sentence-level head."""
    return torch.stack(predict_outputs(model, head, features, collator, batch_size, device, advance))
