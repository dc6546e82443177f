"""The CLI as a person meets it: exit code 2 and one line for bad input, tables for results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from experiment_files import xstilts_in_process

REPO = Path(__file__).resolve().parents[2]


def xstilts(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "xstilts.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_unknown_task_in_config(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: c\nphases: [{name: t, task: xlni}]\n")
    _one_line_error(xstilts_in_process("run", str(config)), "unknown task 'xlni'", "Did you mean 'xnli'")


def test_language_the_task_lacks(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: c\nphases: [{name: e, kind: evaluate, task: pawsx, languages: [de, sw]}]\n")
    _one_line_error(xstilts_in_process("run", str(config)), "phases.0.languages", "no language 'sw'", "allowed: all, en, de")


def test_config_typo(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: c\nphases: [{name: t, task: xnli, batchsize: 8}]\n")
    _one_line_error(xstilts_in_process("run", str(config)), "c.yaml: unknown key 'phases.0.batchsize'", "batch_size")


def test_missing_data_file_is_found_before_any_work(tmp_path, tiny_model_dir, tiny_data_dir):
    config = tmp_path / "c.yaml"
    config.write_text(f"name: c\nmodel: {tiny_model_dir}\nmax_length: 32\noutput_dir: {tmp_path}\n"
                      "phases: [{name: t, task: xnli}, {name: e, kind: evaluate, task: xnli, languages: [de]}]\n")
    (tiny_data_dir / "xnli" / "dev-de.tsv").unlink()
    result = xstilts_in_process("run", str(config), "--data-dir", str(tiny_data_dir))
    _one_line_error(result, "missing data file", "dev-de.tsv")
    assert result.stderr.startswith("error: ")  # nothing ran before the check


def test_unreachable_model(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"name: c\nmodel: xlm-roberta-large\noutput_dir: {tmp_path}\n"
                      "phases: [{name: t, task: demo-nli},\n"
                      "         {name: e, kind: evaluate, task: demo-nli, split: test, languages: [de]}]\n")
    result = xstilts_in_process("run", str(config))
    _one_line_error(result, "could not load model 'xlm-roberta-large' as a Hugging Face Hub id")


def test_tasks_table_lists_every_task():
    result = xstilts("tasks", "--wide")  # the sources are in the wide table
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for name in ("xnli", "pawsx", "xcopa", "mnli", "qqp", "sst2", "copa", "hub:facebook/xnli", "multiple_choice"):
        assert name in out


def test_shipped_configs_validate():
    result = xstilts_in_process("validate", str(REPO / "configs"))
    assert result.returncode == 0, result.stderr
    shipped = sorted(p.name for p in (REPO / "configs").rglob("*.yaml"))
    assert shipped and all(name in result.stderr for name in shipped)


def test_run_then_eval_a_saved_model(tmp_path, tiny_model_dir, tiny_data_dir):
    config = tmp_path / "c.yaml"
    config.write_text(f"name: c\nmodel: {tiny_model_dir}\nmax_length: 32\noutput_dir: {tmp_path / 'runs'}\n"
                      "phases:\n  - {name: target, task: xnli, batch_size: 8}\n"
                      "  - {name: zero-shot, kind: evaluate, task: xnli, languages: all}\n")
    result = xstilts("run", str(config), "--data-dir", str(tiny_data_dir), "--set", "phases.1.languages=[en,de]")
    assert result.returncode == 0, result.stderr
    assert "zero-shot: xnli dev (accuracy, %)" in result.stdout and "average" in result.stdout
    model = tmp_path / "runs" / "c" / "target" / "model"
    result = xstilts("eval", str(model), "--task", "xnli", "--languages", "de", "--data-dir", str(tiny_data_dir))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((model.parent / "eval-xnli-dev" / "metrics.json").read_text())
    ran = json.loads((tmp_path / "runs" / "c" / "metrics.json").read_text())["phases"]["zero-shot"]
    assert metrics["languages"]["de"]["accuracy"] == ran["languages"]["de"]["accuracy"]
    result = xstilts("eval", str(model), "--task", "xcopa", "--data-dir", str(tiny_data_dir))
    _one_line_error(result, "no 'copa' head for task 'xcopa'", "heads it has: nli")
