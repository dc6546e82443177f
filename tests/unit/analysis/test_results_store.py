"""The results store: tidy rows from run folders, each row exactly once with many writers at
once, rebuild from the folders, Parquet, SQL; compare and report on runs named store:RUN."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import yaml
from store_writers import add_runs
from typer.testing import CliRunner

from xstilts.analysis.compare import compare_runs
from xstilts.analysis.runs import resolve_run_dirs
from xstilts.cli.commands import app
from xstilts.errors import XstiltsError
from xstilts.run_identity import run_identity
from xstilts.store.results import ResultsStore

EN_BASE = [1] * 40 + [0] * 20
EN_BETTER = [1] * 50 + [0] * 10
DE = [1, 0] * 30


def _finished(run_dir: Path) -> Path:
    """A run folder as the pipeline leaves it: config.yaml beside metrics.json."""
    config = json.loads((run_dir / "metrics.json").read_text())["config"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    return run_dir


def test_a_run_becomes_tidy_rows_with_a_pointer_to_its_predictions(make_run, tmp_path):
    run = _finished(make_run("mnli-xnli", {"en": EN_BASE, "de": DE}, intermediate="mnli", seed=3))
    store = ResultsStore(tmp_path / "results.duckdb")
    run_id = store.add_run_dir(run)
    assert run_id == run_identity(json.loads((run / "metrics.json").read_text())["config"])
    columns, rows = store.query("SELECT run_name, intermediate, target, seed, phase, task, language, metric, value, "
                                "examples, predictions FROM results ORDER BY language")
    assert [r[:10] for r in rows] == [
        ("mnli-xnli", "mnli", "xnli", 3, "zero-shot", "xnli", "de", "accuracy", 0.5, 60),
        ("mnli-xnli", "mnli", "xnli", 3, "zero-shot", "xnli", "en", "accuracy", 40 / 60, 60)]
    assert rows[0][-1] == str(run.resolve() / "zero-shot" / "predictions" / "xnli" / "dev-de.jsonl")
    store.add_run_dir(run)  # again: replaced, not duplicated
    assert store.query("SELECT count(*) FROM results")[1] == [(2,)]
    with pytest.raises(XstiltsError, match=r"^SQL on .*results.duckdb: .*nope"):
        store.query("SELECT * FROM nope")


def test_many_writers_at_once_store_every_row_exactly_once(run_writer, tmp_path):
    runs = [str(_finished(run_writer(tmp_path / "runs", f"run{i}", {"en": 30 + i % 20, "de": 20, "sw": i % 60},
                                     intermediate="mnli", seed=i))) for i in range(16)]
    store = tmp_path / "results.duckdb"
    # Four processes, every run added twice by different processes.
    batches = [runs[k::2] for k in range(2)] * 2
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(add_runs, [str(store)] * len(batches), batches))
    results = ResultsStore(store)
    assert results.query("SELECT count(*), count(DISTINCT (run_id, language)) FROM results")[1] == [(48, 48)]
    assert results.query("SELECT count(*) FROM runs")[1] == [(16,)]
    assert results.query("SELECT value FROM results WHERE run_name = 'run7' AND language = 'sw'")[1] == [(7 / 60,)]


def test_rebuild_from_run_folders_and_parquet_export(run_writer, tmp_path):
    for i in range(3):
        _finished(run_writer(tmp_path / "runs", f"r{i}", {"en": 30, "de": 20 + i}, intermediate="qqp", seed=i))
    (tmp_path / "runs" / "unfinished").mkdir()
    store = ResultsStore(tmp_path / "results.duckdb")
    store.add_run_dir(tmp_path / "runs" / "r0")
    before = store.query("SELECT * EXCLUDE (finished) FROM results ORDER BY run_name, language")[1]
    assert store.rebuild(tmp_path / "runs") == 3
    rows = store.query("SELECT * EXCLUDE (finished) FROM results ORDER BY run_name, language")[1]
    assert len(rows) == 6 and rows[:2] == before
    written = store.export_parquet(tmp_path / "export")
    assert [p.name for p in written] == ["runs.parquet", "results.parquet"]
    assert ResultsStore(tmp_path / "results.duckdb").query(
        f"SELECT count(*) FROM read_parquet('{written[1]}')")[1] == [(6,)]


def test_compare_and_report_take_runs_from_the_store(make_run, tmp_path):
    base = _finished(make_run("seq", {"en": EN_BASE, "de": DE}, intermediate="mnli"))
    other = _finished(make_run("mixed", {"en": EN_BETTER, "de": DE}, intermediate="qqp"))
    store_path = tmp_path / "results.duckdb"
    store = ResultsStore(store_path)
    base_id, other_id = store.add_run_dir(base), store.add_run_dir(other)
    resolved = resolve_run_dirs([f"store:{base_id[:6]}", "store:mixed"], store_path)
    assert resolved == [base.resolve(), other.resolve()]
    by_folder = compare_runs([base, other], n_boot=300).differences["mixed"]["en"]
    assert compare_runs(resolved, n_boot=300).differences["mixed"]["en"] == by_folder  # same paired bootstrap
    result = CliRunner().invoke(app, ["compare", f"store:{base_id}", f"store:{other_id}", "--store", str(store_path),
                                      "--bootstrap", "200"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "+16.7 [" in result.output
    with pytest.raises(XstiltsError, match=r"store:zzz: no run with this id or name"):
        resolve_run_dirs(["store:zzz"], store_path)
    (other / "metrics.json").unlink()
    with pytest.raises(XstiltsError, match=r"store:mixed: the run folder .* is gone"):
        resolve_run_dirs(["store:mixed"], store_path)
