"""`xstilts eval` on a run's model encodes and scores it with the run's own settings
(runs/<run>/config.yaml), each overridable; and a run evaluated on a subset writes the label rows
of its predictions, which `xstilts score` scores against the matching rows of full label files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.config.loading import eval_settings
from xstilts.errors import XstiltsError
from xstilts.evaluation.benchmark_score import BENCHMARKS, BenchmarkTask, score_submission

REPO = Path(__file__).resolve().parents[3]


def _saved_run(tmp_path: Path, **settings) -> Path:
    """runs/r/config.yaml as a run saves it, and the path of one of its models."""
    config = load_config(experiment_config(tmp_path, "r", tmp_path / "model", tmp_path / "data", """\
  - {name: train, task: xnli}
  - {name: retrieval, kind: evaluate, task: tatoeba, layer: 1}
""", seed=7, max_length=9))
    config = config.model_copy(update=settings)
    run = tmp_path / "runs" / "r"
    (run / "train" / "model").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(json.loads(config.model_dump_json())), encoding="utf-8")
    return run / "train" / "model"


def test_a_runs_model_is_evaluated_with_the_runs_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("XSTILTS_DATA_DIR", raising=False)
    model = _saved_run(tmp_path)
    settings = eval_settings(model, "xnli")
    assert (settings.max_length, settings.seed, settings.mixed_precision, settings.layer) == (9, 7, "no", None)
    assert settings.data.dir == tmp_path / "data" and settings.data.bad_rows == "fail"
    assert settings.origin.endswith(f"from the run's {tmp_path / 'runs' / 'r' / 'config.yaml'}")
    # What the user gives wins, and is said.
    # Retrieval embeds from the layer the run's evaluate phase of the task used.
    assert eval_settings(model, "tatoeba").layer == 1 and "layer 1: from the run's" in eval_settings(model, "tatoeba").origin
    settings = eval_settings(model, "xnli", max_length=128, bad_rows="skip", data_dir=tmp_path / "other")
    assert (settings.max_length, settings.seed, settings.data.bad_rows) == (128, 7, "skip")
    assert settings.data.dir == tmp_path / "other"
    assert settings.origin.endswith("except --max-length, --bad-rows")


def test_a_model_outside_a_run_gets_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_DATA_DIR", str(tmp_path / "env"))
    settings = eval_settings(tmp_path / "somewhere" / "model", "xnli")
    assert (settings.max_length, settings.seed, settings.mixed_precision) == (128, 42, "no")
    assert settings.data.dir == tmp_path / "env"
    assert "not in a run folder" in settings.origin


def _xstilts(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xstilts.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


@pytest.mark.usefixtures("one_torch_thread")
def test_eval_scores_a_runs_model_as_the_run_did(tmp_path, tiny_model_dir, tiny_data_dir, monkeypatch):
    from xstilts.training.pipeline import run_experiment

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    # max_length 6 cuts every pair: at eval's old default of 128 the probabilities differ.
    config = experiment_config(tmp_path, "short", tiny_model_dir, tiny_data_dir, """\
  - {name: train, task: xnli, batch_size: 4, dev_max_examples: 0}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en], max_examples: 4}
""", max_length=6)
    run_experiment(load_config(config))
    run = tmp_path / "runs" / "short"
    result = _xstilts("eval", str(run / "train" / "model"), "--task", "xnli", "--languages", "en",
                      "--max-examples", "4")
    assert result.returncode == 0, result.stderr
    assert f"settings: max_length 6, seed 3, mixed_precision no, bad_rows fail: from the run's {run / 'config.yaml'}" \
        in result.stderr.splitlines()
    evaluated = (run / "train" / "eval-xnli-dev" / "predictions" / "xnli" / "dev-en.jsonl").read_text()
    assert evaluated == (run / "zero-shot" / "predictions" / "xnli" / "dev-en.jsonl").read_text()

    # The subset's submission lists the label rows it predicts, and score reads it against full labels.
    submission = run / "zero-shot" / "xtreme"
    subset = json.loads((submission / "xnli" / "dev-en.subset.json").read_text())
    assert subset["total"] == 6 and len(subset["rows"]) == 4 == len(subset["ids"])
    labels = tmp_path / "labels" / "xnli"
    labels.mkdir(parents=True)
    rows = (tiny_data_dir / "xnli" / "dev-en.tsv").read_text().splitlines()
    (labels / "dev-en.tsv").write_text("".join(row.split("\t")[2] + "\n" for row in rows))
    monkeypatch.setitem(BENCHMARKS, "one", (BenchmarkTask("xnli", "classification", ("en",), "lines", ("accuracy",)),))
    scored = score_submission(submission, labels.parent, "one", split="dev")
    ran = json.loads((run / "metrics.json").read_text())["phases"]["zero-shot"]["languages"]["en"]
    assert scored["tasks"]["xnli"]["score"] == ran["accuracy"]
    assert any("a subset run: scored on the 4 of 6 label rows" in note for note in scored["notes"])


def test_score_reads_a_subset_against_the_matching_label_rows(tmp_path, monkeypatch):
    monkeypatch.setitem(BENCHMARKS, "one", (BenchmarkTask("cls", "classification", ("de",), "lines", ("accuracy",)),
                                            BenchmarkTask("tags", "structured prediction", ("de",), "tags",
                                                          ("span_f1",))))
    pred, gold = tmp_path / "p", tmp_path / "g"
    for folder in (pred / "cls", gold / "cls", pred / "tags", gold / "tags"):
        folder.mkdir(parents=True)
    (gold / "cls" / "test-de.tsv").write_text("a\nb\nc\nd\n")
    (pred / "cls" / "test-de.tsv").write_text("b\nx\n")  # predicts rows 1 and 3: one right
    (pred / "cls" / "test-de.subset.json").write_text(json.dumps({"rows": [1, 3], "total": 4, "ids": ["r1", "r3"]}))
    (gold / "tags" / "test-de.tsv").write_text("B-PER\n\nO\n\nB-LOC\n\n")
    (pred / "tags" / "test-de.tsv").write_text("B-LOC\n\n")
    (pred / "tags" / "test-de.subset.json").write_text(json.dumps({"rows": [2], "total": 3, "ids": ["s2"]}))
    result = score_submission(pred, gold, "one")
    assert result["tasks"]["cls"]["score"] == 0.5 and result["tasks"]["tags"]["score"] == 1.0
    assert any("a subset run: scored on the 2 of 4 label rows it predicts" in note for note in result["notes"])
    (pred / "cls" / "test-de.subset.json").write_text(json.dumps({"rows": [1, 3], "total": 5, "ids": []}))
    with pytest.raises(XstiltsError, match=r"a subset of 5 rows, but .*g/cls/test-de.tsv has 4"):
        score_submission(pred, gold, "one")


def test_a_subset_of_a_retrieval_task_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(BENCHMARKS, "one", (BenchmarkTask("tatoeba", "retrieval", ("de",), "lines", ("accuracy",)),))
    for side in ("p", "g"):
        (tmp_path / side / "tatoeba").mkdir(parents=True)
        (tmp_path / side / "tatoeba" / "test-de.tsv").write_text("0\n1\n")
    (tmp_path / "p" / "tatoeba" / "test-de.subset.json").write_text(json.dumps({"rows": [0, 1], "total": 9}))
    with pytest.raises(XstiltsError, match=r"test-de.subset.json: a subset run of task 'tatoeba' cannot be scored "
                                        r"against the full labels"):
        score_submission(tmp_path / "p", tmp_path / "g", "one")
