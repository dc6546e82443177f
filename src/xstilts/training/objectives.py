"""What a training phase minimises: the loss of a task head (its format's), plus, with continued
multilingual MLM, a masked-language-modelling loss on unlabeled text."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModelForMaskedLM

from xstilts.console import console
from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.models.multitask import MultiTaskModel
from xstilts.models.sources import resolve_model_path


class TrainingModule(nn.Module):
    """The multi-task model and, for continued MLM, an MLM head on its encoder: one module, so
    DDP sees a single forward per batch and accelerate's checkpoints hold all that trains."""

    def __init__(self, model: MultiTaskModel, mlm_head: nn.Module | None = None):
        super().__init__()
        self.model = model
        self.mlm_head = mlm_head

    def forward(self, head: str | None, batch: dict[str, torch.Tensor] | None,
                mlm_batch: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(task loss, MLM loss): the task loss is None without a task batch (a masked-LM-only
        phase), the MLM loss without an MLM batch."""
        task_loss = None
        if batch is not None:
            outputs = self.model(head, batch["input_ids"], batch["attention_mask"])
            task_loss = get_format(self.model.head_info[head].format).loss(outputs, batch)
        if mlm_batch is None:
            return task_loss, None
        hidden = self.model.encoder(input_ids=mlm_batch["input_ids"],
                                    attention_mask=mlm_batch["attention_mask"]).last_hidden_state
        masked = mlm_batch["labels"] != -100
        if not masked.any():  # short sentences can draw no mask at all: nothing to predict
            return task_loss, hidden.sum() * 0.0
        # Vocabulary logits only where a token was masked: the output layer is the costly part.
        mlm_logits = self.mlm_head(hidden[masked])
        return task_loss, nn.functional.cross_entropy(mlm_logits.float(), mlm_batch["labels"][masked])


def masked_lm_head(model_name: str, encoder: nn.Module) -> tuple[nn.Module, bool]:
    """The MLM head of `model_name`'s architecture (transformers' own class, e.g. BERT's `cls`),
    with the model's pretrained head weights when it has them and freshly initialised otherwise
    (the built-in encoder ships none; said in the log). Its output layer is tied to `encoder`'s
    input embeddings, as in pretraining. Returns the head and whether it was initialised."""
    path = resolve_model_path(model_name)
    try:
        full, loading = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise XstiltsError(f"mlm: no masked-LM architecture for model '{model_name}': "
                           f"{str(exc).splitlines()[0][:160]}") from None
    head_name, head = next((n, m) for n, m in full.named_children() if n != full.base_model_prefix)
    decoder = full.get_output_embeddings()
    embeddings = encoder.get_input_embeddings()
    if decoder.weight.shape != embeddings.weight.shape:
        raise XstiltsError(f"mlm: the MLM head of '{model_name}' predicts {decoder.weight.shape[0]} tokens but "
                           f"the encoder embeds {embeddings.weight.shape[0]}")
    decoder.weight = embeddings.weight
    initialised = any(key.startswith(f"{head_name}.") for key in loading["missing_keys"])
    if initialised:
        console.print(f"[yellow]mlm: '{model_name}' has no MLM head; initialised a new {type(head).__name__} "
                      "tied to the input embeddings")
    else:
        console.print(f"mlm: using the pretrained {type(head).__name__} of '{model_name}', tied to the input embeddings")
    return head, initialised
