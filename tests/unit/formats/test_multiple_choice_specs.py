"""The English intermediate tasks of the paper beyond GLUE: their specs read rows in each dataset's
real Hub shape (loader monkeypatched) into the right examples, and a HellaSwag-shaped fixture
trains and evaluates end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Features, Sequence, Value

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import checked_spec, get_task
from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.tasks.example import Example

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TEXT = Value("string")


def _hellaswag():
    features = Features({"ind": Value("int32"), "activity_label": TEXT, "ctx_a": TEXT, "ctx_b": TEXT, "ctx": TEXT,
                         "endings": Sequence(TEXT), "source_id": TEXT, "split": TEXT, "split_type": TEXT,
                         "label": TEXT})
    return datasets.Dataset.from_dict({
        "ind": [24], "activity_label": ["Roof shingle removal"], "ctx_a": ["A man is sitting on a roof."],
        "ctx_b": ["he"], "ctx": ["A man is sitting on a roof. he"],
        "endings": [["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                     "is holding a rubik's cube.", "starts pulling up roofing on a roof."]],
        "source_id": ["activitynet~v_-JhWjGDPHMY"], "split": ["val"], "split_type": ["indomain"], "label": ["3"],
    }, features=features)


def _commonsenseqa():
    features = Features({"id": TEXT, "question": TEXT, "question_concept": TEXT,
                         "choices": Sequence({"label": TEXT, "text": TEXT}), "answerKey": TEXT})
    return datasets.Dataset.from_dict({
        "id": ["075e483d21c29a511267ef62bedc0461"],
        "question": ["The sanctions against the school were a punishing blow, and they seemed to what the efforts "
                     "the school had made to change?"],
        "question_concept": ["punishing"],
        "choices": [{"label": ["A", "B", "C", "D", "E"],
                     "text": ["ignore", "enforce", "authoritarian", "yell at", "avoid"]}],
        "answerKey": ["A"],
    }, features=features)


def _cosmosqa():
    features = Features({"id": TEXT, "context": TEXT, "question": TEXT, "answer0": TEXT, "answer1": TEXT,
                         "answer2": TEXT, "answer3": TEXT, "label": Value("int32")})
    return datasets.Dataset.from_dict({
        "id": ["3Q9SPIIRWJKVQ8244310E8TUS6YWAC##34V1S5K3GTZMDUBNBIGY93FLDOB690##A1S1K7134S2VUC##Blog_1024400"],
        "context": ["Good Old War and person L : I saw both of these bands Wednesday night."],
        "question": ["In the future , will this person go to see other bands play ?"],
        "answer0": ["None of the above choices ."], "answer1": ["This person likes music and likes to see the show ."],
        "answer2": ["This person only likes Good Old War and Person L ."], "answer3": ["Other Bands is not on tour ."],
        "label": [1],
    }, features=features)


def _siqa():
    # Older copies of the Hub dataset end labels with a newline (huggingface/datasets#1633).
    return datasets.Dataset.from_dict({
        "context": ["Cameron decided to have a barbecue and gathered her friends together.",
                    "Tracy didn't go home that evening and resisted Riley's attacks."],
        "question": ["How would Others feel as a result?", "What does Tracy need to do before this?"],
        "answerA": ["like attending", "make a new plan"], "answerB": ["like staying home", "Go home and see Riley"],
        "answerC": ["a good friend to have", "Find somewhere to go"], "label": ["1\n", "3"],
    }, features=Features({name: TEXT for name in ("context", "question", "answerA", "answerB", "answerC", "label")}))


def _anli(round_name: str):
    features = Features({"uid": TEXT, "premise": TEXT, "hypothesis": TEXT,
                         "label": ClassLabel(names=["entailment", "neutral", "contradiction"]), "reason": TEXT})
    return datasets.Dataset.from_dict({
        "uid": [f"{round_name}-0"], "premise": [f"premise of {round_name}"],
        "hypothesis": [f"hypothesis of {round_name}"], "label": [{"r1": 0, "r2": 1, "r3": 2}[round_name[-2:]]],
        "reason": [""]}, features=features)


HUB = {
    "Rowan/hellaswag": lambda split: _hellaswag(),
    "tau/commonsense_qa": lambda split: _commonsenseqa(),
    "allenai/cosmos_qa": lambda split: _cosmosqa(),
    "allenai/social_i_qa": lambda split: _siqa(),
    "facebook/anli": _anli,
}


@pytest.fixture()
def fake_hub(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return HUB[path](split)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


@pytest.mark.parametrize("task,hub_split,context,choices,label", [
    ("hellaswag", "validation", "A man is sitting on a roof. he",
     ("is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.",
      "starts pulling up roofing on a roof."), 3),
    ("commonsenseqa", "validation", "The sanctions against the school were a punishing blow, and they seemed to "
     "what the efforts the school had made to change?", ("ignore", "enforce", "authoritarian", "yell at", "avoid"), 0),
    ("cosmosqa", "validation", "Good Old War and person L : I saw both of these bands Wednesday night. "
     "In the future , will this person go to see other bands play ?",
     ("None of the above choices .", "This person likes music and likes to see the show .",
      "This person only likes Good Old War and Person L .", "Other Bands is not on tour ."), 1),
    ("siqa", "validation", "Cameron decided to have a barbecue and gathered her friends together. "
     "How would Others feel as a result?", ("like attending", "like staying home", "a good friend to have"), 0),
])
def test_hub_row_becomes_the_right_example(fake_hub, task, hub_split, context, choices, label):
    spec = get_task(task)
    examples, _ = load_examples(spec, "dev", "en", DataSettings(source="hub"))
    assert fake_hub == [(spec.source("hub").dataset, None, hub_split)]
    assert examples[0].texts == (context,)
    assert examples[0].choices == choices
    assert examples[0].label == label


def test_one_based_labels_count_from_the_offset(fake_hub):
    examples, _ = load_examples(get_task("siqa"), "train", "en", DataSettings(source="hub"))
    assert [ex.label for ex in examples] == [0, 2]  # "1\n" -> answerA, "3" -> answerC


def test_anli_reads_all_three_rounds_in_order(fake_hub):
    examples, report = load_examples(get_task("anli"), "train", "en", DataSettings(source="hub"))
    assert fake_hub == [("facebook/anli", None, f"train_r{r}") for r in (1, 2, 3)]
    assert [ex.texts for ex in examples] == [(f"premise of train_r{r}", f"hypothesis of train_r{r}") for r in (1, 2, 3)]
    assert [ex.label for ex in examples] == [0, 1, 2]
    assert examples[2].uid == "hub:facebook/anli/None/train_r3[0]"
    load_examples(get_task("anli"), "test", "en", DataSettings(source="hub"))
    assert fake_hub[3:] == [("facebook/anli", None, f"test_r{r}") for r in (1, 2, 3)]


def test_anli_shares_the_nli_head_with_mnli():
    assert get_task("anli").head == get_task("mnli").head == get_task("xnli").head


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_choice_list_of_the_wrong_length_names_field_and_count(tmp_path):
    row = {"ctx": "a context", "endings": ["one", "two", "three"], "label": 0}
    _write_jsonl(tmp_path / "hellaswag" / "hellaswag_val.jsonl", [row])
    with pytest.raises(XstiltsError, match=r"hellaswag_val.jsonl:1: malformed row: field 'endings' has 3 choices; "
                                           r"the task has 4"):
        load_examples(get_task("hellaswag"), "dev", "en", DataSettings(dir=tmp_path))


def test_label_outside_the_one_based_range_names_the_range(tmp_path):
    row = {"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "c", "label": "0"}
    _write_jsonl(tmp_path / "siqa" / "dev.jsonl", [row])
    with pytest.raises(XstiltsError, match=r"label 0 is not in the label list \(answerA, answerB, answerC or 1..3\)"):
        load_examples(get_task("siqa"), "dev", "en", DataSettings(dir=tmp_path))


def test_nested_choice_field_missing_is_a_bad_row(tmp_path):
    _write_jsonl(tmp_path / "commonsenseqa" / "dev.jsonl", [{"question": "q?", "choices": {"label": ["A"]},
                                                               "answerKey": "A"}])
    with pytest.raises(XstiltsError, match=r"dev.jsonl:1: malformed row: missing field 'choices.text'"):
        load_examples(get_task("commonsenseqa"), "dev", "en", DataSettings(dir=tmp_path))


@pytest.mark.parametrize("inputs,message", [
    ({"context": "c", "choices": ["a", "b"], "choices_field": "endings"}, "either inputs.choices"),
    ({"context": "c"}, "either inputs.choices"),
    ({"context": "c", "choices": ["a"]}, "one inputs.choices field per label"),
])
def test_spec_needs_one_way_to_find_the_choices(inputs, message):
    spec = {"name": "t", "version": 1, "description": "d", "format": "multiple_choice", "labels": ["a", "b"],
            "inputs": inputs, "languages": ["en"], "head": "t", "metrics": [{"name": "accuracy"}],
            "sources": [{"kind": "hub", "dataset": "x", "splits": {"train": "train"}}]}
    with pytest.raises(ValueError, match=message):
        checked_spec(spec)


@pytest.mark.usefixtures("one_torch_thread")
def test_hellaswag_fixture_trains_and_evaluates_end_to_end(tmp_path, tiny_model_dir, monkeypatch):
    from xstilts.training.pipeline import run_experiment

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    config = experiment_config(tmp_path, "hs", tiny_model_dir, FIXTURES, """\
  - {name: train, task: hellaswag, epochs: 2, batch_size: 2, lr: 1.0e-3}
  - {name: eval, kind: evaluate, task: hellaswag, languages: [en]}
""")
    summary = run_experiment(load_config(config))
    train = summary["phases"]["train"]
    assert train["optimizer_steps"] == 4  # 4 rows / batch 2 x 2 epochs
    assert train["final_train_loss"] > 0
    evaluation = summary["phases"]["eval"]["languages"]["en"]
    assert evaluation["n"] == 2 and 0.0 <= evaluation["accuracy"] <= 1.0
    run = tmp_path / "runs" / "hs" / "eval"
    predictions = (run / "predictions" / "hellaswag" / "dev-en.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in predictions]
    assert [r["label"] for r in records] == ["ending1", "ending0"]
    assert all(len(r["probabilities"]) == 4 for r in records)
    # The XTREME-layout submission file holds the same predictions, one label per line.
    submitted = (run / "xtreme" / "hellaswag" / "dev-en.tsv").read_text().splitlines()
    assert submitted == [r["prediction"] for r in records]
    assert evaluation["accuracy"] == sum(r["label"] == r["prediction"] for r in records) / 2


def test_xcopa_submission_is_xtreme_r_jsonl_with_the_answer_index_and_id():
    examples = [Example(uid=f"row-{i}", texts=("premise",), label=0, choices=("a", "b")) for i in range(2)]
    submission = get_format("multiple_choice").submission(get_task("xcopa"), examples, [1, 0])
    assert submission.suffix == "jsonl"
    assert [json.loads(line) for line in submission.text.splitlines()] == [{"id": "row-0", "label": 1},
                                                                          {"id": "row-1", "label": 0}]
    # Other multiple-choice tasks keep XTREME's one label per line.
    assert get_format("multiple_choice").submission(get_task("copa"), examples, [1, 0]).suffix == "tsv"
