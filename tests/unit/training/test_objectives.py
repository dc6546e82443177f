"""The MLM head for continued masked-language modelling: transformers' own head class,
initialised when the model has none, its output layer tied to the input embeddings."""

from __future__ import annotations

import torch

from xstilts.data.registry import get_task
from xstilts.models.multitask import build_model
from xstilts.training.objectives import TrainingModule, masked_lm_head


def test_missing_head_is_initialised_and_tied_to_the_embeddings(tiny_mlm_model_dir):
    from transformers.models.bert.modeling_bert import BertOnlyMLMHead

    model, tokenizer = build_model(str(tiny_mlm_model_dir))
    head, initialised = masked_lm_head(str(tiny_mlm_model_dir), model.encoder)
    assert isinstance(head, BertOnlyMLMHead) and initialised  # a BertModel checkpoint has no `cls` weights
    embeddings = model.encoder.get_input_embeddings().weight
    assert head.predictions.decoder.weight is embeddings

    module = TrainingModule(model, head)
    ids = torch.tensor([tokenizer("the cat sits on the mat")["input_ids"]])
    labels = torch.full_like(ids, -100)
    labels[0, 2] = ids[0, 2].item()  # predict "cat" where it is masked
    masked = ids.clone()
    masked[0, 2] = tokenizer.mask_token_id
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([1])}
    mlm_batch = {"input_ids": masked, "attention_mask": torch.ones_like(ids), "labels": labels}
    task_loss, mlm_loss = module(model.ensure_head(get_task("sst2")), batch, mlm_batch)
    mlm_loss.backward()
    # Through the tied output layer, the MLM loss reaches the embedding of the word to predict.
    assert embeddings.grad[ids[0, 2]].abs().sum() > 0
    assert mlm_loss.item() > 0 and task_loss.item() > 0


def test_batch_without_masked_tokens_adds_nothing(tiny_mlm_model_dir):
    model, tokenizer = build_model(str(tiny_mlm_model_dir))
    module = TrainingModule(model, masked_lm_head(str(tiny_mlm_model_dir), model.encoder)[0])
    ids = torch.tensor([tokenizer("yes")["input_ids"]])
    unmasked = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.full_like(ids, -100)}
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0])}
    _, mlm_loss = module(model.ensure_head(get_task("sst2")), batch, unmasked)
    assert mlm_loss.item() == 0.0 and mlm_loss.requires_grad
