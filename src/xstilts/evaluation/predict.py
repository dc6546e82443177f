"""Batched inference: length-sorted batches, inference mode, predictions back in input order."""

from __future__ import annotations

from typing import Callable

import torch

from xstilts.models.multitask import MultiTaskModel
from xstilts.training.features import Collator, Feature


@torch.inference_mode()
def predict_logits(
    model: MultiTaskModel,
    head: str,
    features: list[Feature],
    collator: Collator,
    batch_size: int,
    device: torch.device,
    advance: Callable[[int], None] = lambda n: None,
) -> torch.Tensor:
    """Logits for every feature, in the order given. Sorting by length first keeps padding
    (wasted compute) small; the model is put in eval mode and restored afterwards."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(features)), key=lambda i: features[i].length)
    out: list[torch.Tensor | None] = [None] * len(features)
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = collator([features[i] for i in idx])
            logits = model(head, batch["input_ids"].to(device), batch["attention_mask"].to(device))
            for i, row in zip(idx, logits.float().cpu()):
                out[i] = row
            advance(len(idx))
    finally:
        model.train(was_training)
    return torch.stack(out)  # type: ignore[arg-type]
