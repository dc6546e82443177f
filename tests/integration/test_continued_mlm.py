"""Continued MLM on the real built-in encoder, which ships without an MLM head; marked `integration`."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_builtin_encoder_gets_an_initialised_head_tied_to_its_embeddings(capsys):
    from transformers.models.bert.modeling_bert import BertOnlyMLMHead

    from xstilts.models.multitask import build_model
    from xstilts.training.objectives import masked_lm_head

    model, tokenizer = build_model("builtin:multilingual-e5-small")
    head, initialised = masked_lm_head("builtin:multilingual-e5-small", model.encoder)
    assert initialised and isinstance(head, BertOnlyMLMHead)
    assert head.predictions.decoder.weight is model.encoder.get_input_embeddings().weight
    assert tokenizer.mask_token == "<mask>"
    assert "has no MLM head; initialised a new BertOnlyMLMHead tied to the input embeddings" in \
        " ".join(capsys.readouterr().err.split())
