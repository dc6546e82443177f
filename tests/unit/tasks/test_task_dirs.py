"""User task folders: `task_dirs` in a config and `--task-dir` add YAML task specs from outside
the package, checked by the registry's own rules, for one command or run only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.data.registry import load_registry, registry
from xstilts.errors import XstiltsError
from xstilts.training.pipeline import check_config, run_experiment

REPO = Path(__file__).resolve().parents[3]

# A sentiment task of the user's own: English training data, German and English test sets.
MOOD_SPEC = """
name: mood
version: 3
description: a user's own sentiment task
format: single_classification
labels: [sad, glad]
inputs: {texts: [text]}
languages: [en, de]
head: mood
metrics: [{name: accuracy}]
sources: [{kind: local, file: "mood/{split}-{lang}.tsv", splits: {train: train, dev: dev}}]
"""
ROWS = {"en": [("good film", "glad"), ("bad film", "sad"), ("great food", "glad"), ("terrible service", "sad")],
        "de": [("gut film", "glad"), ("schlecht film", "sad")]}


def _task_folder(root: Path, spec: str = MOOD_SPEC) -> Path:
    folder = root / "my_tasks"
    folder.mkdir(parents=True)
    (folder / "mood.yaml").write_text(spec, encoding="utf-8")
    return folder


def _mood_data(data_dir: Path) -> Path:
    (data_dir / "mood").mkdir(parents=True)
    for split, langs in (("train", ["en"]), ("dev", ["en", "de"])):
        for lang in langs:
            rows = ["text\tlabel"] + [f"{t}\t{label}" for t, label in ROWS[lang]]
            (data_dir / "mood" / f"{split}-{lang}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return data_dir


@pytest.mark.usefixtures("one_torch_thread")
def test_a_user_task_trains_and_transfers_end_to_end(tmp_path, tiny_model_dir, tiny_data_dir):
    folder = _task_folder(tmp_path)
    config = experiment_config(tmp_path, "mine", tiny_model_dir, _mood_data(tiny_data_dir), """
  - {name: target, task: mood, epochs: 2, batch_size: 2, lr: 1.0e-3}
  - {name: zero-shot, kind: evaluate, task: mood, languages: all}""")
    config.write_text(f"task_dirs: [{folder}]\n" + config.read_text())
    summary = run_experiment(load_config(config))
    assert set(summary["phases"]["zero-shot"]["languages"]) == {"en", "de"}
    assert summary["phases"]["zero-shot"]["languages"]["de"]["n"] == 2
    assert summary["task_versions"] == {"mood": 3}
    heads = json.loads((tmp_path / "runs" / "mine" / "target" / "model" / "heads.json").read_text())
    assert heads["heads"]["mood"]["labels"] == ["sad", "glad"]
    # The folder is the run's input, not a process-wide addition.
    assert "mood" not in registry() and "mood" not in load_registry().tasks


def test_command_line_task_dirs_add_to_the_config(tmp_path, tiny_model_dir, tiny_data_dir):
    folder = _task_folder(tmp_path)
    config = experiment_config(tmp_path, "cli", tiny_model_dir, tiny_data_dir,
                               "  - {name: t, task: mood}\n  - {name: e, kind: evaluate, task: mood, languages: [de]}")
    with pytest.raises(XstiltsError, match="phases.0.task: unknown task 'mood'"):
        check_config(load_config(config), check_files=False)
    plan = check_config(load_config(config, task_dirs=[folder]), check_files=False)
    assert plan.config.task_dirs == [folder] and plan.phases[1].spec.name == "mood"


def test_user_specs_obey_the_registry_rules(tmp_path):
    with pytest.raises(XstiltsError, match=r"task_dirs.0: .*nope is not a folder"):
        load_registry([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(XstiltsError, match=r"--task-dir.0: .*empty holds no .yaml task spec"):
        load_registry([tmp_path / "empty"], "--task-dir")
    clash = _task_folder(tmp_path / "clash", MOOD_SPEC.replace("name: mood", "name: xnli"))
    with pytest.raises(XstiltsError, match=r"task 'xnli' is already defined in .*xnli.yaml"):
        load_registry([clash])
    bad_head = _task_folder(tmp_path / "head", MOOD_SPEC.replace("head: mood", "head: nli"))
    with pytest.raises(XstiltsError, match="head 'nli' is shared with task"):
        load_registry([bad_head])
    one_text = _task_folder(tmp_path / "pair", MOOD_SPEC.replace("single_classification", "pair_classification"))
    with pytest.raises(XstiltsError, match=r"mood.yaml: invalid task spec: pair_classification needs exactly 2"):
        load_registry([one_text])


def test_tasks_and_validate_take_task_dir(tmp_path):
    folder = _task_folder(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text("name: c\nphases: [{name: t, task: mood}, {name: e, kind: evaluate, task: mood, languages: [de]}]\n")
    env = {**os.environ, "COLUMNS": "80"}
    listing = subprocess.run([sys.executable, "-m", "xstilts.cli", "tasks", "--task-dir", str(folder)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0, listing.stderr
    assert any(line.split()[:1] == ["mood"] for line in listing.stdout.splitlines()), listing.stdout
    refused = subprocess.run([sys.executable, "-m", "xstilts.cli", "validate", str(config)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "unknown task 'mood'" in refused.stderr
    checked = subprocess.run([sys.executable, "-m", "xstilts.cli", "validate", str(config), "--task-dir", str(folder)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0 and f"ok {config}" in checked.stderr, checked.stderr
