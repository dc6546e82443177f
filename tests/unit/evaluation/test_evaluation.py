"""Metrics, batched prediction, and zero-shot evaluation resuming per language."""

from __future__ import annotations

import json

import pytest
import torch

from xstilts.config import EvaluatePhase
from xstilts.data.loading import DataSettings
from xstilts.data.registry import get_task
from xstilts.evaluation import scored_set
from xstilts.evaluation.zero_shot import evaluate_languages, summarize
from xstilts.formats import Collator, get_format
from xstilts.formats.features import encode
from xstilts.formats.predict import predict_logits
from xstilts.metrics import accuracy
from xstilts.models.multitask import build_model
from xstilts.tasks.example import Example


@pytest.mark.parametrize("labels,predictions,expected", [
    ([0, 1, 2, 1], [0, 1, 1, 1], 0.75), ([1], [0], 0.0), ([2, 2], [2, 2], 1.0)])
def test_accuracy(labels, predictions, expected):
    assert accuracy(labels, predictions) == expected


def test_accuracy_refuses_mismatched_lengths():
    with pytest.raises(ValueError):
        accuracy([0, 1], [0])


def test_summary_averages_all_and_zero_shot_languages():
    summary = summarize("xnli", 1, "dev", "en", ["accuracy"],
                        {"en": {"accuracy": 0.9}, "de": {"accuracy": 0.6}, "sw": {"accuracy": 0.3}})
    assert summary["average"]["accuracy"] == pytest.approx(0.6)
    assert summary["zero_shot_average"]["accuracy"] == pytest.approx(0.45)


def _sst2_model_and_features(tiny_model_dir):
    """A tiny model with an SST-2 head and four sentences of different lengths."""
    torch.manual_seed(0)
    model, tokenizer = build_model(str(tiny_model_dir))
    head = model.ensure_head(get_task("sst2"))
    texts = ["the cat sits on the mat", "good film", "a dog runs in the park today", "no"]
    features = encode([Example(str(i), (t,), 0) for i, t in enumerate(texts)], tokenizer, get_task("sst2"), 32)
    return model, head, features, Collator(get_format("single_classification"), tokenizer.pad_token_id)


def test_length_sorted_prediction_returns_input_order(tiny_model_dir):
    model, head, features, collator = _sst2_model_and_features(tiny_model_dir)
    batched = predict_logits(model, head, features, collator, batch_size=3, device=torch.device("cpu"))
    singles = torch.cat([predict_logits(model, head, [f], collator, 1, torch.device("cpu")) for f in features])
    torch.testing.assert_close(batched, singles, rtol=1e-5, atol=1e-5)
    assert model.training  # restored after inference


def test_interrupted_evaluation_resumes_at_the_first_unscored_language(tmp_path, tiny_model_dir, tiny_data_dir, monkeypatch):
    torch.manual_seed(0)
    model, tokenizer = build_model(str(tiny_model_dir))
    model.ensure_head(get_task("xnli"))
    cfg = EvaluatePhase(kind="evaluate", name="e", task="xnli", languages=["en", "de"])
    args = (model, tokenizer, get_task("xnli"), ["en", "de"], cfg, tmp_path, DataSettings(dir=tiny_data_dir), 0, 32,
            torch.device("cpu"))
    first = evaluate_languages(*args)
    (tmp_path / "scores" / "xnli" / "dev-de.json").unlink()
    seen = []
    real = scored_set.load_examples

    def spy(spec, split, lang, data):
        seen.append(lang)
        return real(spec, split, lang, data)

    monkeypatch.setattr(scored_set, "load_examples", spy)
    second = evaluate_languages(*args)
    assert seen == ["de"]
    assert second == first
    rows = [json.loads(line) for line in (tmp_path / "predictions" / "xnli" / "dev-de.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == ["entailment", "contradiction", "neutral"]
    assert all(abs(sum(r["probabilities"]) - 1) < 1e-3 for r in rows)


def test_bf16_autocast_predictions_match_fp32_within_tolerance(tiny_model_dir):
    # The bf16 speed option must not change what the model predicts beyond rounding.
    model, head, features, collator = _sst2_model_and_features(tiny_model_dir)
    fp32 = predict_logits(model, head, features, collator, batch_size=4, device=torch.device("cpu"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = predict_logits(model, head, features, collator, batch_size=4, device=torch.device("cpu"))
    assert not torch.equal(fp32, bf16)  # autocast really ran in bf16
    torch.testing.assert_close(bf16, fp32, rtol=0.05, atol=0.03)
