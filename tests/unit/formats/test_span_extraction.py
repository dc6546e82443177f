"""Span extraction (extractive QA): rows -> examples from SQuAD JSON files and the Hub, sliding
windows with answer labels, span decoding across windows, and SQuAD -> XQuAD end to end."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch
from transformers import AutoTokenizer

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.evaluation.benchmark_score import read_squad
from xstilts.formats import get_format
from xstilts.tasks.example import BadRow, Example
from xstilts.training.pipeline import run_experiment

FIXTURES = Path(__file__).parents[2] / "fixtures"
SPANS = get_format("span_extraction")

# Thirty one-token words: word i is token i of the context.
WORDS = [f"x{i}" for i in range(30)]
CONTEXT = " ".join(WORDS)


def answer(first: int, last: int) -> tuple[str, int]:
    """Words first..last of CONTEXT as a (text, character start) answer."""
    return " ".join(WORDS[first:last + 1]), len(" ".join(WORDS[:first])) + (first > 0)


def spec_with(task: str = "squad", **spans):
    spec = get_task(task)
    return spec.model_copy(update={"spans": spec.spans.model_copy(update=spans)})


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def first_word(feature) -> int:
    return CONTEXT[:feature.offsets[0][0]].count(" ")


# ---------------------------------------------------------------- windows


def test_long_context_gives_strided_windows_labelled_where_they_hold_the_answer(tokenizer):
    example = Example("q", ("where is x10", CONTEXT), (answer(10, 11),))
    # 16 tokens: <s> 3 question tokens </s> </s> ... </s> leave 9 context tokens per window.
    features = SPANS.encode(spec_with(doc_stride=4), [example], tokenizer, max_length=16)
    assert [first_word(f) for f in features] == [0, 4, 8, 12, 16, 20, 24]
    assert all(f.length <= 16 and f.example == 0 and f.input_ids[0][1:4] == features[0].input_ids[0][1:4]
               for f in features)
    assert CONTEXT[features[-1].offsets[-1][0]:] == "x29"  # the last window reaches the end
    for f in features:
        if first_word(f) in (4, 8):  # the windows holding x10 and x11
            start, end = (position - f.context_start for position in f.label)
            assert (CONTEXT[slice(*f.offsets[start])], CONTEXT[slice(*f.offsets[end])]) == ("x10", "x11")
        else:
            assert f.label == (0, 0)  # the first special token


def test_stride_is_at_most_half_a_window(tokenizer):
    example = Example("q", ("where is x10", CONTEXT), (answer(10, 11),))
    features = SPANS.encode(spec_with(doc_stride=128), [example], tokenizer, max_length=16)
    assert [first_word(f) for f in features][:3] == [0, 4, 8]  # 9 context tokens: step 4


def test_long_questions_are_cut_to_max_query_length(tokenizer):
    question = " ".join(["why"] * 20)
    features = SPANS.encode(spec_with(max_query_length=5), [Example("q", (question, CONTEXT), (answer(0, 0),))],
                            tokenizer, max_length=32)
    assert features[0].context_start == 1 + 5 + 2  # <s>, 5 question tokens, </s> </s>


def gold_shaped(features, peaked: set[int]) -> list[torch.Tensor]:
    """Logits peaking at the label of each window in `peaked`; other windows peak at position 0."""
    outputs = []
    for i, f in enumerate(features):
        out = torch.zeros(f.length, 2)
        start, end = f.label if i in peaked else (0, 0)
        out[start, 0] += 10.0
        out[end, 1] += 10.0
        outputs.append(out)
    return outputs


def test_decoding_finds_the_answer_in_whichever_window_holds_it(tokenizer):
    golds = [answer(1, 2), answer(9, 11), answer(27, 29)]  # first, second (and third), last window
    examples = [Example(f"q{i}", ("where is it", CONTEXT), (gold,)) for i, gold in enumerate(golds)]
    features = SPANS.encode(spec_with(doc_stride=4), examples, tokenizer, max_length=16)
    assert [f.example for f in features] == sorted(f.example for f in features)
    # Only the first window of each example that holds its answer says so.
    peaked = {next(i for i, f in enumerate(features) if f.example == k and f.label != (0, 0)) for k in range(3)}
    assert sorted(first_word(features[i]) for i in peaked) == [0, 4, 24]
    outputs = gold_shaped(features, peaked)
    assert SPANS.decode(spec_with(), examples, features, outputs) == [g[0] for g in golds]
    # With no-answer allowed, the spans still beat the null score (lowest over the windows: 0).
    assert SPANS.decode(spec_with("squad_v2"), examples, features, outputs) == [g[0] for g in golds]


def test_no_answer_is_predicted_only_when_allowed(tokenizer):
    example = Example("q", ("where is it", CONTEXT), ())
    features = SPANS.encode(spec_with("squad_v2", doc_stride=4), [example], tokenizer, max_length=16)
    assert all(f.label == (0, 0) for f in features)
    outputs = gold_shaped(features, set())
    assert SPANS.decode(spec_with("squad_v2"), [example], features, outputs) == [""]
    predicted = SPANS.decode(spec_with(), [example], features, outputs)[0]
    assert predicted and predicted in CONTEXT  # SQuAD v1.1 always answers with a span


def one_window(tokenizer, peaks: dict[tuple[int, int], float], **spans):
    """The prediction for a short context from chosen (word, 0=start/1=end) logits."""
    example = Example("q", ("where", " ".join(WORDS[:10])), (answer(0, 0),))
    (feature,) = SPANS.encode(spec_with(**spans), [example], tokenizer, max_length=32)
    out = torch.zeros(feature.length, 2)
    for (word, which), value in peaks.items():
        out[feature.context_start + word, which] = value
    return SPANS.decode(spec_with(**spans), [example], [feature], [out])[0]


def test_spans_longer_than_max_answer_length_or_ending_before_they_start_are_skipped(tokenizer):
    peaks = {(0, 0): 10.0, (8, 1): 10.0, (1, 1): 5.0}
    assert one_window(tokenizer, peaks) == "x0 x1 x2 x3 x4 x5 x6 x7 x8"
    assert one_window(tokenizer, peaks, max_answer_length=3) == "x0 x1"
    assert one_window(tokenizer, {(5, 0): 10.0, (2, 1): 10.0, (6, 1): 5.0}) == "x5 x6"


def test_loss_is_the_mean_of_start_and_end_cross_entropy():
    outputs = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    labels = torch.tensor([[0, 1]])
    start = -torch.log_softmax(outputs[0, :, 0], 0)[0]
    end = -torch.log_softmax(outputs[0, :, 1], 0)[1]
    assert SPANS.loss(outputs, {"labels": labels}) == pytest.approx(float(start + end) / 2)


def test_head_gives_padding_no_chance():
    head = SPANS.head(hidden_size=8, num_labels=0, dropout=0.1)
    logits = head(torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]))
    assert logits.shape == (2, 5, 2)
    assert (logits[0, 3:] < -1e30).all() and (logits[1] > -1e30).all()


# ---------------------------------------------------------------- rows


def test_rows_give_question_context_and_answers_in_either_shape():
    spec = get_task("squad")
    hub_row = {"id": "a1", "question": "q?", "context": "x0 x1",
               "answers": {"text": ["x1", "x1"], "answer_start": [3, 3]}}
    json_row = {"id": "a1", "question": "q?", "context": "x0 x1", "answers": [{"text": "x1", "answer_start": 3}]}
    assert SPANS.parse(spec, hub_row, "place") == Example("a1", ("q?", "x0 x1"), (("x1", 3), ("x1", 3)))
    assert SPANS.parse(spec, json_row, "place").label == (("x1", 3),)
    assert SPANS.parse(spec, {**json_row, "id": None}, "place").uid == "place"


@pytest.mark.parametrize("answers,problem", [
    ([], "no answer"),
    ({"text": ["x1"], "answer_start": []}, "different numbers"),
    ([{"text": "", "answer_start": 0}], "non-empty text"),
    ([{"text": "x1", "answer_start": 99}], "after the end of the context"),
    ("x1", "must be a list"),
])
def test_malformed_answers_are_bad_rows(answers, problem):
    row = {"question": "q?", "context": "x0 x1", "answers": answers}
    with pytest.raises(BadRow, match=problem):
        SPANS.parse(get_task("squad"), row, "place")


def test_squad_v2_accepts_unanswerable_questions():
    row = {"question": "q?", "context": "x0 x1", "answers": {"text": [], "answer_start": []}}
    assert SPANS.parse(get_task("squad_v2"), row, "place").label == ()


def test_local_squad_json_gives_one_example_per_question():
    examples, report = load_examples(get_task("squad"), "train", "en", DataSettings(dir=FIXTURES))
    assert [ex.uid for ex in examples] == [f"sq-{i}" for i in range(1, 7)]
    question, context = examples[2].texts
    (text, start), = examples[2].label
    assert question == "where is the weather sunny ?" and context[start:start + len(text)] == "in the park"
    assert start > context.index("in the park")  # the second occurrence, as annotated
    assert report.origin.endswith("squad/train-v1.1.json")


def test_malformed_squad_json_row_names_its_place(tmp_path):
    paragraph = {"context": "x0 x1", "qas": [{"id": "ok", "question": "q?", "answers": [{"text": "x1", "answer_start": 3}]},
                                             {"id": "bad", "question": "q?"}]}
    (tmp_path / "squad").mkdir()
    (tmp_path / "squad" / "dev-v1.1.json").write_text(json.dumps({"data": [{"paragraphs": [paragraph]}]}))
    with pytest.raises(XstiltsError, match=r"dev-v1\.1\.json\[data\]\[0\]\[paragraphs\]\[0\]\[qas\]\[1\]: "
                                           r"malformed row: missing field 'answers'"):
        load_examples(get_task("squad"), "dev", "en", DataSettings(dir=tmp_path))


# ---------------------------------------------------------------- the Hub


@pytest.fixture()
def fake_hub(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_dict({
            "id": ["arabic-1", "english-2", "arabic-3"],
            "question": ["q1?", "q2?", "q3?"],
            "context": ["x0 x1", "x2 x3", "x4 x5"],
            "answers": [{"text": ["x1"], "answer_start": [3]}, {"text": ["x2"], "answer_start": [0]},
                        {"text": ["x4", "x4 x5"], "answer_start": [0, 0]}],
        })

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_squad_shaped_rows_give_examples(fake_hub):
    examples, _ = load_examples(get_task("xquad"), "test", "de", DataSettings(source="hub"))
    assert fake_hub == [("google/xquad", "xquad.de", "validation")]
    assert examples[2] == Example("arabic-3", ("q3?", "x4 x5"), (("x4", 0), ("x4 x5", 0)))
    load_examples(get_task("mlqa"), "test", "zh", DataSettings(source="hub"))
    load_examples(get_task("squad"), "train", "en", DataSettings(source="hub"))
    assert fake_hub[1:] == [("facebook/mlqa", "mlqa.zh.zh", "test"), ("rajpurkar/squad", None, "train")]


def test_tydiqa_keeps_the_rows_of_the_language_asked_for(fake_hub):
    examples, _ = load_examples(get_task("tydiqa"), "test", "ar", DataSettings(source="hub"))
    assert fake_hub == [("google-research-datasets/tydiqa", "secondary_task", "validation")]
    assert [ex.uid for ex in examples] == ["arabic-1", "arabic-3"]
    with pytest.raises(XstiltsError, match="no usable rows"):
        load_examples(get_task("tydiqa"), "test", "sw", DataSettings(source="hub"))


# ---------------------------------------------------------------- end to end


@pytest.mark.usefixtures("one_torch_thread")
def test_squad_training_then_zero_shot_xquad(tmp_path, tiny_model_dir):
    config = experiment_config(tmp_path, "qa", tiny_model_dir, FIXTURES, """\
  - {name: squad, task: squad, epochs: 2, batch_size: 4, lr: 1.0e-3}
  - {name: zero-shot, kind: evaluate, task: xquad, split: test, languages: [en, de]}
""")
    summary = run_experiment(load_config(config))
    run = tmp_path / "runs" / "qa" / "zero-shot"
    contexts = {}
    for lang in ("en", "de"):
        data = json.loads((FIXTURES / "xquad" / f"test-{lang}.json").read_text(encoding="utf-8"))
        contexts[lang] = {qa["id"]: p["context"] for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]}
        scores = json.loads((run / "scores" / "xquad" / f"test-{lang}.json").read_text(encoding="utf-8"))
        assert scores["n"] == 2 and 0.0 <= scores["exact_match"] <= scores["f1"] <= 1.0
        rows = [json.loads(line) for line in (run / "predictions" / "xquad" / f"test-{lang}.jsonl").read_text().splitlines()]
        assert [r["id"] for r in rows] == ["xq-1", "xq-2"]
        assert all(r["prediction"] and r["prediction"] in contexts[lang][r["id"]] for r in rows)
    assert rows[0]["answers"] == ["auf der matte"]
    # The XTREME submission holds the same answers, and `xstilts score`'s reader takes it.
    submitted = json.loads((run / "xtreme" / "xquad" / "test-de.json").read_text(encoding="utf-8"))
    assert submitted == {r["id"]: r["prediction"] for r in rows}
    golds, predicted = read_squad(run / "xtreme" / "xquad" / "test-de.json", FIXTURES / "xquad" / "test-de.json")
    assert predicted == [r["prediction"] for r in rows] and golds[0] == ["auf der matte"]
    zero_shot = summary["phases"]["zero-shot"]
    assert set(zero_shot["zero_shot_average"]) == {"f1", "exact_match"}
    assert 0.0 <= summary["phases"]["squad"]["best_dev_score"] <= 1.0  # the dev set's F1
