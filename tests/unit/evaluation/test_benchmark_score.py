"""`xstilts score`: submission files read per task kind, scores per language, task, group and
overall as XTREME's evaluate.py forms them, clear errors, and the run -> submission round trip."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from experiment_files import xstilts_in_process
from xstilts.errors import XstiltsError
from xstilts.evaluation import benchmark_score
from xstilts.evaluation.benchmark_score import (
    BENCHMARKS,
    BenchmarkTask,
    read_pairs,
    read_ranked,
    read_squad,
    read_tags,
    score_submission,
    scores_table,
)
from xstilts.languages import LANGUAGE_INFO, XTREME_LANGUAGES, XTREME_R_LANGUAGES


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _squad(questions: dict[str, list[str]]) -> str:
    qas = [{"id": qid, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in answers]}
           for qid, answers in questions.items()]
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]})


# A small benchmark: three groups, two classification tasks, 2 languages each.
MINI = (
    BenchmarkTask("cls", "classification", ("de", "en"), "lines", ("accuracy",)),
    BenchmarkTask("nli", "classification", ("de", "en"), "lines", ("accuracy",)),
    BenchmarkTask("tag", "structured prediction", ("de", "en"), "tags", ("span_f1",)),
    BenchmarkTask("qa", "question answering", ("de", "en"), "squad", ("exact_match", "f1")),
)


@pytest.fixture()
def mini(tmp_path, monkeypatch):
    monkeypatch.setitem(BENCHMARKS, "mini", MINI)
    pred, gold = tmp_path / "predictions", tmp_path / "labels"
    files = {
        # en: 3 of 4 right; de: 2 of 3 right.
        "cls/test-en.tsv": ("a\nb\nb\nb\n", "a\nb\na\nb\n"),
        "cls/test-de.tsv": ("a\nb\nc\n", "a\na\nc\n"),
        "nli/test-en.tsv": ("x\ny\n", "x\ny\n"),
        "nli/test-de.tsv": ("y\ny\n", "x\ny\n"),
        # en: 2 gold chunks, 1 predicted and right -> F1 2/3; de: 1 gold, 2 predicted, 1 right -> 2/3.
        "tag/test-en.tsv": ("B-PER\nI-PER\nO\n\nO\n", "B-PER\nI-PER\nO\n\nB-LOC\n"),
        "tag/test-de.tsv": ("B-ORG\nB-ORG\n", "O\nB-ORG\n"),
        # en: EM 1/2 (articles dropped), F1 (1 + 2/3)/2; de: EM 1, F1 1.
        "qa/test-en.json": (json.dumps({"q1": "Eiffel Tower", "q2": "Paris France"}),
                            _squad({"q1": ["the Eiffel Tower"], "q2": ["Paris", "in Paris"]})),
        "qa/test-de.json": (json.dumps({"q3": "berlin."}), _squad({"q3": ["Berlin"]})),
    }
    for relative, (predicted, labels) in files.items():
        _write(pred, relative, predicted)
        _write(gold, relative, labels)
    return pred, gold


def test_scores_per_language_task_group_and_overall(mini):
    result = score_submission(*mini, "mini")
    tasks = result["tasks"]
    assert tasks["cls"]["languages"]["en"] == {"accuracy": 0.75, "score": 0.75}
    assert tasks["cls"]["languages"]["de"]["score"] == pytest.approx(2 / 3)
    assert tasks["cls"]["score"] == pytest.approx((0.75 + 2 / 3) / 2)
    assert tasks["nli"]["score"] == pytest.approx(0.75)
    assert tasks["tag"]["languages"]["en"]["span_f1"] == pytest.approx(2 / 3)
    assert tasks["tag"]["score"] == pytest.approx(2 / 3)
    qa_en = tasks["qa"]["languages"]["en"]
    assert (qa_en["exact_match"], qa_en["f1"]) == (pytest.approx(0.5), pytest.approx(5 / 6))
    assert qa_en["score"] == pytest.approx((0.5 + 5 / 6) / 2)  # QA: the mean of EM and F1
    assert tasks["qa"]["average"] == {"exact_match": pytest.approx(0.75), "f1": pytest.approx(11 / 12)}
    assert tasks["qa"]["score"] == pytest.approx((2 / 3 + 1) / 2)
    groups = result["groups"]
    assert groups["classification"]["score"] == pytest.approx(((0.75 + 2 / 3) / 2 + 0.75) / 2)
    assert groups["question answering"]["score"] == pytest.approx(5 / 6)
    task_scores = [(0.75 + 2 / 3) / 2, 0.75, 2 / 3, 5 / 6]
    # The overall score averages the tasks, not the groups (which would give 0.7430...).
    assert result["overall"] == pytest.approx(sum(task_scores) / 4) == pytest.approx(0.7395833)
    assert result["missing_tasks"] == {}


def test_missing_task_leaves_its_group_and_the_overall_score_out(mini):
    pred, gold = mini
    for path in (pred / "nli").iterdir():
        path.unlink()
    (pred / "nli").rmdir()
    result = score_submission(pred, gold, "mini")
    assert result["missing_tasks"] == {"nli": "no nli/ folder in the predictions"}
    assert "nli" not in result["tasks"]
    assert result["groups"]["classification"] == {"tasks": ["cls", "nli"], "missing": ["nli"], "score": None}
    assert result["groups"]["question answering"]["score"] == pytest.approx(5 / 6)
    assert result["overall"] is None
    table = scores_table(result)
    assert table.row_count == len(MINI) + len(result["groups"]) + 1


def test_missing_language_file_names_the_path(mini):
    pred, gold = mini
    (pred / "cls" / "test-de.tsv").unlink()
    with pytest.raises(XstiltsError, match=r"missing file .*predictions/cls/test-de.tsv: task 'cls' needs "
                                           r"cls/test-<lang>.tsv for each of its languages \(de en\)"):
        score_submission(pred, gold, "mini")


def test_line_count_mismatch_names_both_files(mini):
    pred, gold = mini
    _write(pred, "cls/test-en.tsv", "a\nb\n")
    with pytest.raises(XstiltsError, match=r"predictions/cls/test-en.tsv: 2 lines, the labels "
                                           r"\(.*labels/cls/test-en.tsv\) have 4;"):
        score_submission(pred, gold, "mini")


def test_tag_files_must_align_sentence_by_sentence(tmp_path):
    pred = _write(tmp_path, "p.tsv", "O\nO\n\nB-PER\n")
    gold = _write(tmp_path, "g.tsv", "O\n\nB-PER\nO\n")
    with pytest.raises(XstiltsError, match=r"p.tsv: sentence 1 has 2 tags, the labels \(.*g.tsv\) have 1;"):
        read_tags(pred, gold)
    assert read_tags(gold, gold) == ([["O"], ["B-PER", "O"]], [["O"], ["B-PER", "O"]])


def test_qa_question_without_prediction_scores_0_with_one_note(tmp_path):
    gold = _write(tmp_path, "g.json", _squad({"q1": ["a"], "q2": ["b", "c"], "q3": ["d"]}))
    pred = _write(tmp_path, "p.json", json.dumps({"q2": "b", "other": "x"}))
    notes: list[str] = []
    assert read_squad(pred, gold, notes) == ([["a"], ["b", "c"], ["d"]], [None, "b", None])
    assert len(notes) == 1
    assert re.fullmatch(r".*p.json: no prediction for 2 of the 3 questions in .*g.json; each scores 0, as in the "
                        r"official scripts: q1, q3", notes[0])
    _write(tmp_path, "p.json", json.dumps({"q2": "b", "q1": "z", "q3": "d"}))
    assert read_squad(pred, gold) == ([["a"], ["b", "c"], ["d"]], ["z", "b", "d"])  # in the labels' order
    _write(tmp_path, "p.json", json.dumps(["not", "a", "mapping"]))
    with pytest.raises(XstiltsError, match=r"p.json: expected one JSON object \{question id: answer text\}"):
        read_squad(pred, gold)


def test_qa_missing_answers_score_0_in_the_task(mini):
    pred, gold = mini
    _write(pred, "qa/test-en.json", json.dumps({"q1": "Eiffel Tower"}))  # q2 left out
    result = score_submission(pred, gold, "mini")
    assert result["tasks"]["qa"]["languages"]["en"]["exact_match"] == 0.5
    assert result["tasks"]["qa"]["languages"]["en"]["f1"] == 0.5
    assert [n for n in result["notes"] if "no prediction" in n] == [result["tasks"]["qa"]["notes"][0]]


def test_retrieval_readers(tmp_path):
    gold = _write(tmp_path, "g.tsv", "de-1\ten-5\nde-2\ten-7\n")
    pred = _write(tmp_path, "p.tsv", "de-2\ten-7\nde-3\ten-1\nde-4\ten-2\n")
    assert read_pairs(pred, gold) == ([("de-1", "en-5"), ("de-2", "en-7")],
                                      [("de-2", "en-7"), ("de-3", "en-1"), ("de-4", "en-2")])
    _write(tmp_path, "p.tsv", "de-2 en-7\n")
    with pytest.raises(XstiltsError, match=r"p.tsv:1: expected 'source id<TAB>target id'"):
        read_pairs(pred, gold)
    gold = _write(tmp_path, "g.json", json.dumps({"m1": ["Q1"], "m2": ["Q2", "Q3"]}))
    pred = _write(tmp_path, "p.json", json.dumps({"m2": ["Q9", "Q3", "Q2"], "m1": ["Q1"]}))
    assert read_ranked(pred, gold) == ([["Q1"], ["Q2", "Q3"]], [["Q1"], ["Q9", "Q3", "Q2"]])


@pytest.mark.parametrize("task,folder,files,expected", [
    # BUCC: 1 of 3 predicted pairs is among the 2 gold ones: P 1/3, R 1/2, F1 0.4.
    ("bucc2018", "bucc2018", ("de-2\ten-7\nde-3\ten-1\nde-4\ten-2\n", "de-1\ten-5\nde-2\ten-7\n"), 0.4),
    # Mewsli-X, in the folder xstilts' mewsli_x task writes: AP@20 of m1 = 1, of m2 = (1/2 + 2/3) / 2.
    ("mewslix", "mewsli_x", (json.dumps({"m1": ["Q1"], "m2": ["Q9", "Q3", "Q2"]}),
                             json.dumps({"m1": ["Q1"], "m2": ["Q2", "Q3"]})), (1 + 7 / 12) / 2),
])
def test_retrieval_dispatch_through_registered_metrics(tmp_path, monkeypatch, task, folder, files, expected):
    spec = next(t for b in BENCHMARKS.values() for t in b if t.name == task)
    monkeypatch.setitem(BENCHMARKS, "one", (dataclasses.replace(spec, languages=("de",)),))
    suffix = benchmark_score.READERS[spec.kind][0]
    _write(tmp_path / "p", f"{folder}/test-de.{suffix}", files[0])
    _write(tmp_path / "g", f"{folder}/test-de.{suffix}", files[1])
    result = score_submission(tmp_path / "p", tmp_path / "g", "one")
    assert result["tasks"][task]["score"] == pytest.approx(expected)


def test_labels_a_metric_cannot_score_are_an_error(tmp_path, monkeypatch):
    monkeypatch.setitem(BENCHMARKS, "one", (BenchmarkTask("ret", "retrieval", ("de",), "ranked", ("map_at_20",)),))
    _write(tmp_path / "p", "ret/test-de.json", json.dumps({"m1": ["Q1"]}))
    _write(tmp_path / "g", "ret/test-de.json", json.dumps({"m1": []}))
    with pytest.raises(XstiltsError, match=r"g/ret/test-de.json: cannot score against these labels: average "
                                           r"precision needs at least one relevant item"):
        score_submission(tmp_path / "p", tmp_path / "g", "one")


def test_unregistered_metric_is_named(mini, monkeypatch):
    monkeypatch.setitem(BENCHMARKS, "mini", (BenchmarkTask("cls", "classification", ("en",), "lines", ("nope",)),))
    with pytest.raises(XstiltsError, match=r"task 'cls' is scored with metric 'nope', which is not registered"):
        score_submission(*mini, "mini")


def test_benchmark_task_lists():
    def languages(benchmark):
        return {lang for task in BENCHMARKS[benchmark] for lang in task.languages}

    assert languages("xtreme") == set(XTREME_LANGUAGES)
    assert languages("xtreme-r") == set(XTREME_R_LANGUAGES)
    sizes = {b: {t.name: len(t.languages) for t in BENCHMARKS[b]} for b in BENCHMARKS}
    assert sizes["xtreme"] == {"pawsx": 7, "xnli": 15, "udpos": 33, "panx": 40, "xquad": 11, "mlqa": 7,
                               "tydiqa": 9, "bucc2018": 4, "tatoeba": 36}
    # XTREME-R as its evaluate.py defines it: XQuAD with ro, XCOPA in a multiple-choice group,
    # LAReQA in no group (scored by xstilts on XQuAD-R's 11 languages).
    assert sizes["xtreme-r"] == {"xnli": 15, "xcopa": 11, "udpos": 38, "panx": 48, "xquad": 12, "mlqa": 7,
                                 "tydiqa": 9, "tatoeba": 41, "mewslix": 11, "lareqa": 11}
    xquad = next(t for t in BENCHMARKS["xtreme-r"] if t.name == "xquad")
    assert "ro" in xquad.languages
    groups = {t.name: t.group for t in BENCHMARKS["xtreme-r"]}
    assert [n for n, g in groups.items() if g == "retrieval"] == ["tatoeba", "mewslix"]
    assert groups["xcopa"] == "multiple choice" and groups["lareqa"] is None
    assert [t.name for t in BENCHMARKS["xtreme-r"] if t.not_in_evaluate_py] == ["lareqa"]
    assert not any(t.not_in_evaluate_py for t in BENCHMARKS["xtreme"])
    assert all(lang in LANGUAGE_INFO for b in BENCHMARKS.values() for t in b for lang in t.languages)


# ---------------------------------------------------------------- the CLI


def _pawsx_submission(root: Path, right: int) -> None:
    """pawsx files for all 7 languages: labels 0 1 1 0, predictions with `right` of 4 right."""
    predicted = ["0", "1", "1", "0"][:right] + ["1", "0", "0", "1"][right:]
    for lang in BENCHMARKS["xtreme"][0].languages:
        _write(root / "labels", f"pawsx/test-{lang}.tsv", "0\n1\n1\n0\n")
        _write(root / "predictions", f"pawsx/test-{lang}.tsv", "\n".join(predicted) + "\n")


def test_cli_prints_the_table_and_writes_json(tmp_path):
    _pawsx_submission(tmp_path, right=3)
    result = xstilts_in_process("score", "--predictions", str(tmp_path / "predictions"),
                                "--labels", str(tmp_path / "labels"), "--benchmark", "xtreme",
                                "--json", str(tmp_path / "scores.json"))
    assert result.returncode == 0, result.stderr
    assert "pawsx" in result.stdout and "75.0" in result.stdout
    assert "missing: pawsx" not in result.stdout and "missing: xnli" in result.stdout
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["tasks"]["pawsx"]["score"] == 0.75 and scores["overall"] is None
    assert scores["groups"]["classification"]["missing"] == ["xnli"]


@pytest.mark.parametrize("damage,fragment", [
    (lambda root: (root / "predictions" / "pawsx" / "test-ko.tsv").unlink(), "predictions/pawsx/test-ko.tsv"),
    (lambda root: _write(root / "predictions", "pawsx/test-ja.tsv", "0\n"), "test-ja.tsv: 1 line, the labels"),
])
def test_cli_bad_submission_is_one_line_and_exit_2(tmp_path, damage, fragment):
    _pawsx_submission(tmp_path, right=4)
    damage(tmp_path)
    result = xstilts_in_process("score", "--predictions", str(tmp_path / "predictions"),
                                "--labels", str(tmp_path / "labels"), "--benchmark", "xtreme")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]) and "Traceback" not in result.stderr
    assert fragment in errors[0]


# ---------------------------------------------------------------- run -> submission -> score


PAWSX_ROWS = [("the cat sits on the mat", "a cat is on the mat", "1"),
              ("a dog runs in the park", "the dog is sleeping at home", "0"),
              ("she is reading a book", "she reads", "1"), ("it is raining today", "the weather is sunny", "0")]


@pytest.mark.usefixtures("one_torch_thread")
def test_run_writes_a_submission_that_score_reads(tmp_path, tiny_model_dir, monkeypatch):
    from xstilts.config import load_config
    from xstilts.training.pipeline import run_experiment

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    data, labels = tmp_path / "data", tmp_path / "labels"
    languages = BENCHMARKS["xtreme"][0].languages
    _write(data, "pawsx/train-en.tsv", "".join("\t".join(r) + "\n" for r in PAWSX_ROWS * 2))
    for lang in languages:
        rows = PAWSX_ROWS[:3] if lang == "de" else PAWSX_ROWS
        _write(data, f"pawsx/test-{lang}.tsv", "".join("\t".join(r) + "\n" for r in rows))
        _write(labels, f"pawsx/test-{lang}.tsv", "".join(r[2] + "\n" for r in rows))
    config = tmp_path / "c.yaml"
    config.write_text(f"""
name: rt
model: {tiny_model_dir}
max_length: 32
output_dir: {tmp_path / 'runs'}
data: {{dir: {data}}}
phases:
  - {{name: train, task: pawsx, batch_size: 4, lr: 1.0e-3, dev_max_examples: 0}}
  - {{name: test, kind: evaluate, task: pawsx, split: test}}
""", encoding="utf-8")
    summary = run_experiment(load_config(config))
    submission = tmp_path / "runs" / "rt" / "test" / "xtreme"
    assert set((submission / "pawsx").iterdir()) == {submission / "pawsx" / f"test-{lang}.tsv" for lang in languages}
    assert set((submission / "pawsx" / "test-en.tsv").read_text().split()) <= {"0", "1"}  # XTREME's labels
    result = score_submission(submission, labels, "xtreme")
    evaluated = summary["phases"]["test"]
    for lang in languages:
        assert result["tasks"]["pawsx"]["languages"][lang]["accuracy"] == evaluated["languages"][lang]["accuracy"]
    assert result["tasks"]["pawsx"]["score"] == pytest.approx(evaluated["average"]["accuracy"])
    assert "xnli" in result["missing_tasks"]


# ---------------------------------------------------------------- XTREME-R files and tables


def test_xcopa_files_are_jsonl_compared_by_their_json_label(tmp_path, monkeypatch):
    spec = next(t for t in BENCHMARKS["xtreme-r"] if t.name == "xcopa")
    assert (spec.kind, spec.group) == ("jsonl", "multiple choice")
    monkeypatch.setitem(BENCHMARKS, "one", (dataclasses.replace(spec, languages=("et",)),))
    _write(tmp_path / "g", "xcopa/test-et.jsonl", "".join(json.dumps({"premise": "p", "label": label}) + "\n"
                                                         for label in (0, 1, 1, 0)))
    # "1" (a string) is not the label 1, as evaluate.py compares the JSON values.
    _write(tmp_path / "p", "xcopa/test-et.jsonl", "".join(json.dumps({"label": label}) + "\n"
                                                         for label in (0, 1, "1", 1)))
    result = score_submission(tmp_path / "p", tmp_path / "g", "one")
    assert result["tasks"]["xcopa"]["score"] == 0.5
    _write(tmp_path / "p", "xcopa/test-et.jsonl", '{"label": 0}\n{"labels": 1}\n')
    with pytest.raises(XstiltsError, match=r'p/xcopa/test-et.jsonl:2: expected a JSON object with a "label"'):
        score_submission(tmp_path / "p", tmp_path / "g", "one")


def test_scores_evaluate_py_cannot_compute_are_said_so(tmp_path, monkeypatch):
    tasks = (BenchmarkTask("cls", "classification", ("en",), "lines", ("accuracy",)),
             BenchmarkTask("ranked", None, ("en",), "lines", ("accuracy",), not_in_evaluate_py="it lists no languages"))
    monkeypatch.setitem(BENCHMARKS, "mini", tasks)
    for task in ("cls", "ranked"):
        _write(tmp_path / "p", f"{task}/test-en.tsv", "a\nb\n")
        _write(tmp_path / "g", f"{task}/test-en.tsv", "a\na\n")
    result = score_submission(tmp_path / "p", tmp_path / "g", "mini")
    assert result["overall"] == 0.5 and list(result["groups"]) == ["classification"]  # no group of its own
    assert result["notes"] == ["ranked: scored by xstilts only; evaluate.py cannot score it (it lists no languages)",
                               "overall: computed by xstilts; evaluate.py cannot compute the mini overall score "
                               "(it lists no languages)"]
    rows = scores_table(result).columns[-1]._cells
    assert "xstilts only" in rows[1] and "xstilts only: evaluate.py cannot score ranked" in rows[-1]
