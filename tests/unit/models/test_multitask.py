"""The shared encoder with task heads: pooling, head sharing, save/load."""

from __future__ import annotations

import pytest
import torch

from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.formats import Collator, get_format
from xstilts.formats.features import encode
from xstilts.models.multitask import build_model, load_model, save_model
from xstilts.tasks.example import Example


def _model(tiny_model_dir):
    torch.manual_seed(0)
    model, tokenizer = build_model(str(tiny_model_dir))
    return model.eval(), tokenizer


def test_tasks_sharing_a_head_get_the_same_module(tiny_model_dir):
    model, _ = _model(tiny_model_dir)
    assert model.ensure_head(get_task("mnli")) == model.ensure_head(get_task("xnli")) == "nli"
    assert list(model.heads) == ["nli"]


def test_head_key_trained_for_other_labels_is_refused(tiny_model_dir):
    model, _ = _model(tiny_model_dir)
    model.ensure_head(get_task("mnli"))
    model.head_info["nli"] = type(model.head_info["nli"])("pair_classification", ["a", "b"])
    with pytest.raises(XstiltsError, match="uses head 'nli', which was trained for \\['a', 'b'\\]"):
        model.ensure_head(get_task("xnli"))


def test_evaluating_needs_a_trained_head(tiny_model_dir):
    model, _ = _model(tiny_model_dir)
    with pytest.raises(XstiltsError, match="no 'nli' head for task 'xnli' \\(heads it has: none\\)"):
        model.trained_head(get_task("xnli"))


def test_mean_pooling_ignores_padding(tiny_model_dir):
    model, tokenizer = _model(tiny_model_dir)
    head = model.ensure_head(get_task("sst2"))
    collator = Collator(get_format("single_classification"), tokenizer.pad_token_id)
    short = encode([Example("a", ("good film",), 1)], tokenizer, get_task("sst2"), 32)
    long = encode([Example("b", ("the cat sits on the mat",), 0)], tokenizer, get_task("sst2"), 32)
    alone = collator(short)
    padded = collator(short + long)
    with torch.no_grad():
        a = model(head, alone["input_ids"], alone["attention_mask"])[0]
        b = model(head, padded["input_ids"], padded["attention_mask"])[0]
    assert padded["input_ids"].shape[1] > alone["input_ids"].shape[1]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_multiple_choice_logits_have_one_column_per_choice(tiny_model_dir):
    model, tokenizer = _model(tiny_model_dir)
    head = model.ensure_head(get_task("copa"))
    examples = [Example("a", ("the man is not happy What was the cause?",), 0, ("it is raining today", "good film")),
                Example("b", ("she reads",), 1, ("yes", "no"))]
    batch = Collator(get_format("multiple_choice"), tokenizer.pad_token_id)(encode(examples, tokenizer, get_task("xcopa"), 32))
    assert batch["input_ids"].shape[:2] == (2, 2)
    with torch.no_grad():
        assert model(head, batch["input_ids"], batch["attention_mask"]).shape == (2, 2)


def test_save_and_load_give_identical_outputs(tiny_model_dir, tmp_path):
    model, tokenizer = _model(tiny_model_dir)
    head = model.ensure_head(get_task("xnli"))
    model.ensure_head(get_task("copa"))
    batch = Collator(get_format("pair_classification"), tokenizer.pad_token_id)(
        encode([Example("a", ("the cat sits on the mat", "a cat is on the mat"), 0)], tokenizer, get_task("mnli"), 32))
    save_model(model, tokenizer, tmp_path / "model")
    loaded, _ = load_model(tmp_path / "model")
    loaded.eval()
    assert set(loaded.head_info) == {"nli", "copa"}
    with torch.no_grad():
        torch.testing.assert_close(model(head, batch["input_ids"], batch["attention_mask"]),
                                   loaded(head, batch["input_ids"], batch["attention_mask"]))


def test_loading_something_else_is_refused(tmp_path):
    with pytest.raises(XstiltsError, match="is not an xstilts model directory"):
        load_model(tmp_path)


def test_encoder_can_keep_its_first_layers(tiny_model_dir, tmp_path):
    model, tokenizer = build_model(str(tiny_model_dir), encoder_layers=1)
    assert len(model.encoder.encoder.layer) == 1 and model.encoder.config.num_hidden_layers == 1
    model.ensure_head(get_task("sst2"))
    save_model(model, tokenizer, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m")
    assert len(loaded.encoder.encoder.layer) == 1
    with pytest.raises(XstiltsError, match="encoder_layers: 3 is not between 1 and the model's 2 layers"):
        build_model(str(tiny_model_dir), encoder_layers=3)


@pytest.mark.parametrize("damage", ["zeros", "truncate", "heads", "delete"])
def test_damaged_or_altered_weights_are_named_on_load(tiny_model_dir, tmp_path, damage):
    model, tokenizer = _model(tiny_model_dir)
    model.ensure_head(get_task("mnli"))
    save_model(model, tokenizer, tmp_path / "model")
    load_model(tmp_path / "model")  # whole: loads
    weights = tmp_path / "model" / ("heads.safetensors" if damage == "heads" else "encoder/model.safetensors")
    data = weights.read_bytes()
    if damage == "zeros":  # zeros written into the middle of the encoder's tensors: still a valid file
        weights.write_bytes(data[:len(data) // 2] + bytes(1024) + data[len(data) // 2 + 1024:])
    elif damage == "truncate":
        weights.write_bytes(data[:-100])
    elif damage == "heads":
        weights.write_bytes(data[:-4] + b"\0\0\0\0")
    else:
        weights.unlink()
    # A file that no longer parses is named by the structural check, before the checksums.
    with pytest.raises(XstiltsError, match=f"{weights}.*(sha256 recorded when it was saved|is missing|"
                                           "not a complete safetensors file)") as raised:
        load_model(tmp_path / "model")
    assert "\n" not in str(raised.value)
