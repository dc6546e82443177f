"""Training data of a phase: translate-train pools and unlabeled text for continued MLM."""

from __future__ import annotations

import json

import pytest

from xstilts.config import MaskedLMConfig, TaskEntry
from xstilts.config.plan import check_task_files, task_plan
from xstilts.data.loading import DataSettings, translated_spec
from xstilts.data.registry import builtin_registry, get_task
from xstilts.errors import XstiltsError
from xstilts.training.task_data import load_training_task, read_unlabeled_text


def _german_rows(data_dir):
    return [line.split("\t") for line in (data_dir / "xnli" / "dev-de.tsv").read_text().splitlines()]


def _translated_mnli(root, rows):
    """`rows` as translated MNLI training data: <root>/mnli/train-de.json."""
    (root / "mnli").mkdir(parents=True)
    data = {str(i): {"text_a": a, "text_b": b, "label": c} for i, (a, b, c) in enumerate(rows)}
    (root / "mnli" / "train-de.json").write_text(json.dumps(data), encoding="utf-8")
    return root


def test_translated_files_follow_the_task_layout_with_a_language():
    assert translated_spec(get_task("mnli")).source("local").file == "mnli/{split}-{lang}.json"
    assert translated_spec(get_task("pawsx")).source("local").file == "pawsx/{split}-{lang}.tsv"  # has {lang}
    assert translated_spec(get_task("demo-nli")).source("local").file == "demo-nli/{split}-{lang}.tsv"


def test_translate_train_alone_or_mixed_with_english(tmp_path, tiny_data_dir):
    data = DataSettings(dir=tiny_data_dir)
    german = _german_rows(tiny_data_dir)
    translated = _translated_mnli(tmp_path / "translated", german)
    # xnli trains on mnli: its translated data is mnli's, in mnli's layout.
    alone = load_training_task(task_plan(TaskEntry(task="xnli", train_languages=["de"], translated_dir=translated),
                                         data, "phases.0", builtin_registry()), data, seed=1, dev_max_examples=None)
    assert [ex.texts for ex in alone.examples] == [(a, b) for a, b, _ in german]
    assert alone.languages == ["de"] and alone.train_spec.name == "mnli"
    assert len(alone.dev_examples) == 6  # English dev all the same
    mixed = load_training_task(task_plan(TaskEntry(task="mnli", train_languages=["en", "de"], translated_dir=translated,
                                                   max_examples=10), data, "phases.0", builtin_registry()),
                               data, seed=1, dev_max_examples=0)
    assert len(mixed.examples) == 10 and mixed.dev_examples == []
    assert [r.origin.rsplit("/", 1)[1] for r in mixed.reports] == ["train.json", "train-de.json"]


def test_translated_language_needs_its_folder_and_file(tmp_path, tiny_data_dir):
    data = DataSettings(dir=tiny_data_dir)
    with pytest.raises(XstiltsError, match=r"phases.2.tasks.1.train_languages: 'de' is not task 'mnli''s own "
                                           r"training language \(en\); give translated_dir, a folder with "
                                           r"mnli/train-de.json"):
        check_task_files(task_plan(TaskEntry(task="mnli", train_languages=["de"]), data, "phases.2.tasks.1",
                                   builtin_registry()))
    with pytest.raises(XstiltsError, match=r"missing data file .*empty/mnli/train-sw.json"):
        check_task_files(task_plan(TaskEntry(task="mnli", train_languages=["sw"], translated_dir=tmp_path / "empty"),
                                   data, "phases.0", builtin_registry()))


def test_unlabeled_text_from_tsv_columns_jsonl_fields_and_text_files(tmp_path):
    (tmp_path / "a.tsv").write_text("eins\tzwei\tx\neins\tdrei\ty\n\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "vier", "other": 1}) + "\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("fünf\nzwei\n", encoding="utf-8")
    cfg = MaskedLMConfig(files=[str(tmp_path / "a.tsv"), str(tmp_path / "*.jsonl"), str(tmp_path / "c.txt")],
                         tsv_columns=[0, 1])
    assert read_unlabeled_text(cfg, seed=0, data_dir=None) == ["eins", "zwei", "drei", "vier", "fünf"]  # repeats kept once
    without = cfg.model_copy(update={"files": [str(tmp_path / "*.*")], "exclude": ["*.tsv", "c.*"]})
    assert read_unlabeled_text(without, seed=0, data_dir=None) == ["vier"]
    subset = read_unlabeled_text(cfg.model_copy(update={"max_sentences": 2}), seed=0, data_dir=None)
    assert len(subset) == 2 and set(subset) < {"eins", "zwei", "drei", "vier", "fünf"}


@pytest.mark.parametrize("files,extra,message", [
    (["a.tsv"], {"tsv_columns": [3]}, r"a.tsv:1: mlm.tsv_columns \[3\] but the line has 2 tab-separated fields"),
    (["b.jsonl"], {"jsonl_fields": ["sentence"]}, r"b.jsonl:1: no text field sentence \(mlm.jsonl_fields\)"),
    (["nothing-*.txt"], {}, r"mlm.files: '.*nothing-\*.txt' matches no file"),
])
def test_unlabeled_text_errors_name_the_place(tmp_path, files, extra, message):
    (tmp_path / "a.tsv").write_text("eins\tzwei\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "vier"}) + "\n", encoding="utf-8")
    cfg = MaskedLMConfig(files=[str(tmp_path / f) for f in files], **extra)
    with pytest.raises(XstiltsError, match=message):
        read_unlabeled_text(cfg, seed=0, data_dir=None)


def test_unlabeled_text_files_under_the_data_folder(tmp_path):
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "dev-de.tsv").write_text("eins\tzwei\n", encoding="utf-8")
    cfg = MaskedLMConfig(files=["{data_dir}/xnli/dev-*.tsv"])
    assert read_unlabeled_text(cfg, seed=0, data_dir=tmp_path) == ["eins"]
    with pytest.raises(XstiltsError, match=r"^phases.1.mlm.files: '\{data_dir\}/xnli/dev-\*.tsv' names \{data_dir\} "
                                           r"but no data folder is set; give --data-dir"):
        read_unlabeled_text(cfg, seed=0, data_dir=None, where="phases.1")
