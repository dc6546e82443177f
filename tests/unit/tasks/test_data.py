"""Loading examples: local files in the XTREME layout, the Hub (loader monkeypatched), bad rows."""

from __future__ import annotations

import datasets
import pytest

from xstilts.data.loading import DataSettings, load_examples, select_subset
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError


def test_local_tsv_rows_become_examples_with_their_place(tiny_data_dir):
    examples, report = load_examples(get_task("xnli"), "dev", "de", DataSettings(dir=tiny_data_dir))
    assert [ex.label for ex in examples] == [0, 2, 1]  # entailment, contradiction, neutral
    assert examples[0].texts == ("die katze sitzt auf der matte", "eine katze ist auf der matte")
    assert examples[1].uid.endswith("xnli/dev-de.tsv:2")
    assert report.skipped == []


def test_json_dict_layout_is_renamed_to_spec_fields(tiny_data_dir):
    examples, _ = load_examples(get_task("mnli"), "train", "en", DataSettings(dir=tiny_data_dir))
    assert len(examples) == 24 and examples[0].uid.endswith("mnli/train.json[0]")


def test_tsv_with_header_and_integer_labels(tiny_data_dir):
    examples, _ = load_examples(get_task("sst2"), "train", "en", DataSettings(dir=tiny_data_dir))
    assert [(ex.texts, ex.label) for ex in examples[:2]] == [(("good film",), 1), (("bad film",), 0)]


def test_multiple_choice_folds_the_question_into_the_context(tiny_data_dir):
    examples, _ = load_examples(get_task("xcopa"), "dev", "sw", DataSettings(dir=tiny_data_dir))
    assert examples[0].texts == ("the man is not happy What was the cause?",)
    assert examples[0].choices == ("it is raining today", "good film")
    assert [ex.label for ex in examples] == [0, 1]


def _append(path, text):
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_malformed_row_fails_with_file_and_line(tiny_data_dir):
    _append(tiny_data_dir / "xnli" / "dev-de.tsv", "only one field\tand two\n")
    with pytest.raises(XstiltsError, match=r"dev-de.tsv:4: malformed row: expected 3 tab-separated fields .* got 2"):
        load_examples(get_task("xnli"), "dev", "de", DataSettings(dir=tiny_data_dir))


def test_malformed_rows_can_be_skipped_and_are_counted(tiny_data_dir):
    _append(tiny_data_dir / "xnli" / "dev-de.tsv", "a\tb\n" + "a\tb\tmaybe\n")
    examples, report = load_examples(get_task("xnli"), "dev", "de",
                                     DataSettings(dir=tiny_data_dir, bad_rows="skip"))
    assert len(examples) == 3
    assert len(report.skipped) == 2
    assert "dev-de.tsv:5: label 'maybe' is not in the label list (entailment, neutral, contradiction" in report.skipped[1]


def test_label_outside_list_names_allowed_values(tiny_data_dir):
    _append(tiny_data_dir / "sst2" / "train.tsv", "odd\t7\n")
    with pytest.raises(XstiltsError, match=r"train.tsv:6: .*label 7 is not in the label list \(negative, positive or 0..1\)"):
        load_examples(get_task("sst2"), "train", "en", DataSettings(dir=tiny_data_dir))


def test_bad_jsonl_line_is_reported(tiny_data_dir):
    _append(tiny_data_dir / "xcopa" / "val-sw.jsonl", "{not json\n")
    with pytest.raises(XstiltsError, match=r"val-sw.jsonl:3: malformed row: not valid JSON"):
        load_examples(get_task("xcopa"), "dev", "sw", DataSettings(dir=tiny_data_dir))


def test_missing_file_names_path_and_layout(tiny_data_dir):
    with pytest.raises(XstiltsError,
                       match=r"missing data file .*xnli/dev-fr.tsv .*expected layout <data-dir>/xnli/\{split\}-\{lang\}.tsv"):
        load_examples(get_task("xnli"), "dev", "fr", DataSettings(dir=tiny_data_dir))


def test_local_source_without_data_dir_says_how_to_give_one():
    with pytest.raises(XstiltsError, match="pass --data-dir DIR or set XSTILTS_DATA_DIR"):
        load_examples(get_task("xnli"), "dev", "de", DataSettings(source="local"))


def test_packaged_demo_data_needs_no_data_dir():
    examples, _ = load_examples(get_task("demo-nli"), "test", "sw", DataSettings())
    assert len(examples) == 60
    english, _ = load_examples(get_task("demo-nli"), "test", "en", DataSettings())
    assert [e.label for e in examples] == [e.label for e in english]


# ---------------------------------------------------------------- the Hub path


@pytest.fixture()
def fake_hub(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        features = datasets.Features({
            "premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        })
        return datasets.Dataset.from_dict(
            {"premise": ["p1", "p2"], "hypothesis": ["h1", "h2"], "label": [2, 0]}, features=features)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_source_requests_real_ids_configs_and_splits(fake_hub):
    examples, report = load_examples(get_task("xnli"), "dev", "de", DataSettings(source="hub"))
    assert fake_hub == [("facebook/xnli", "de", "validation")]
    assert [ex.label for ex in examples] == [2, 0] and examples[0].texts == ("p1", "h1")
    assert report.origin == "hub:facebook/xnli"
    load_examples(get_task("mnli"), "dev", "en", DataSettings(source="hub"))
    assert fake_hub[-1] == ("nyu-mll/glue", "mnli", "validation_matched")


def test_auto_source_uses_the_hub_without_a_data_dir(fake_hub):
    load_examples(get_task("xnli"), "test", "sw", DataSettings())
    assert fake_hub == [("facebook/xnli", "sw", "test")]


@pytest.mark.parametrize("task,split,lang,expected", [
    ("qqp", "train", "en", ("nyu-mll/glue", "qqp", "train")),
    ("sst2", "dev", "en", ("nyu-mll/glue", "sst2", "validation")),
    ("pawsx", "train", "en", ("google-research-datasets/paws-x", "en", "train")),
    ("copa", "train", "en", ("aps/super_glue", "copa", "train")),
    ("xcopa", "test", "qu", ("cambridgeltl/xcopa", "qu", "test")),
])
def test_hub_ids_of_every_paper_task(monkeypatch, task, split, lang, expected):
    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        raise ConnectionError("stop here")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(XstiltsError):
        load_examples(get_task(task), split, lang, DataSettings(source="hub"))
    assert calls == [expected]


def test_unreachable_hub_is_one_line_with_a_way_out(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'facebook/xnli' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(XstiltsError) as err:
        load_examples(get_task("xnli"), "dev", "de", DataSettings(source="hub"))
    message = str(err.value)
    assert "\n" not in message
    assert "could not load facebook/xnli (config de, split validation)" in message
    assert "--data-dir" in message


def test_subset_is_seeded_and_aligned_across_parallel_files(tiny_data_dir):
    examples, _ = load_examples(get_task("mnli"), "train", "en", DataSettings(dir=tiny_data_dir))
    first = select_subset(examples, 5, seed=3)
    assert first == select_subset(examples, 5, seed=3)
    assert first != select_subset(examples, 5, seed=4)
    assert [examples.index(e) for e in first] == sorted(examples.index(e) for e in first)
    assert select_subset(examples, None, seed=3) is examples
