"""The CLI reads well: `xstilts tasks` fits 80 columns and starts without torch, help texts keep
their sentences whole and name the real defaults, `--set ...languages=de,sw` works, dev scores
and the time left appear in plain logs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer._click import Context

from experiment_files import experiment_config
from xstilts.cli import COMMAND_MODULES, cli
from xstilts.config import load_config
from xstilts.console import _LoggedProgress
from xstilts.data.registry import get_task, registry
from xstilts.robustness.registry import build_perturbations
from xstilts.robustness.search import GreedyAttack
from xstilts.training.pipeline import run_experiment
from xstilts.training.train_phase import dev_line

REPO = Path(__file__).resolve().parents[2]


def _xstilts(*args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "xstilts.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_tasks_fit_80_columns_one_line_each():
    result = _xstilts("tasks")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in registry():
        rows = [line for line in lines if line.split()[:1] == [name]]
        assert len(rows) == 1, name
    xnli = next(line for line in lines if line.split()[:1] == ["xnli"]).split()
    assert xnli == ["xnli", "pair_classification", "3", "15", "mnli", "(en)"]


def test_tasks_wide_and_json():
    wide = _xstilts("tasks", "--wide", columns=300)
    assert "hub:google/xtreme" in wide.stdout and "ar bg de el es" in wide.stdout
    listed = json.loads(_xstilts("tasks", "--json").stdout)
    assert [t["name"] for t in listed] == sorted(registry())
    assert next(t for t in listed if t["name"] == "xnli")["languages"] == get_task("xnli").languages


def test_tasks_starts_without_torch():
    script = ("import sys\nfrom xstilts.cli import main\nsys.argv = ['xstilts', 'tasks']\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "print('torch' in sys.modules, 'transformers' in sys.modules, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.stderr.split() == ["False", "False"], result.stderr
    assert "xnli" in result.stdout


def _commands():
    ctx = Context(cli)
    return [(name, cli.get_command(ctx, name)) for name in COMMAND_MODULES]


def test_help_keeps_sentences_whole_and_every_option_explained():
    for name, command in _commands():
        assert "\n" not in command.help.replace("\n\n", ""), name
        silent = [p.name for p in command.params if p.param_type_name == "option" and not p.help]
        assert silent == [], f"{name}: options without help: {silent}"


def test_attack_help_names_the_real_query_budget():
    attack = dict(_commands())["attack"]
    budget = next(p for p in attack.params if p.name == "query_budget")
    (textfooler,) = build_perturbations("textfooler", [], {"seed": 1, "strength": None, "query_budget": None})
    assert textfooler.query_budget == GreedyAttack.model_fields["query_budget"].default
    assert f"(default {textfooler.query_budget})" in budget.help


def test_languages_comma_separated_in_set(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: c\nphases:\n  - {name: t, task: mnli}\n  - {name: e, kind: evaluate, task: xnli}\n")
    assert load_config(config, ["phases.1.languages=de,sw"]).phases[1].languages == ["de", "sw"]
    assert load_config(config, ["phases.1.languages=de"]).phases[1].languages == ["de"]
    assert load_config(config, ["phases.1.languages=all"]).phases[1].languages == "all"
    assert load_config(config, ["phases.1.languages=[de, sw]"]).phases[1].languages == ["de", "sw"]


def test_dev_line():
    xnli, qqp = get_task("xnli"), get_task("qqp")
    assert dev_line(40, [(xnli, 0.6125)], 0.6125, 0.6125, 40) == "dev at step 40: xnli accuracy 0.6125 (new best)"
    assert dev_line(60, [(xnli, 0.5), (qqp, 0.7)], 0.6, 0.65, 40) == (
        "dev at step 60: xnli accuracy 0.5000, qqp accuracy 0.7000; mean 0.6000 (best 0.6500 at step 40)")


@pytest.mark.usefixtures("one_torch_thread")
def test_dev_scores_are_printed_as_training_evaluates(tmp_path, tiny_model_dir, tiny_data_dir, capsys):
    config = experiment_config(tmp_path, "dev", tiny_model_dir, tiny_data_dir,
                               "  - {name: t, task: sst2, epochs: 1, batch_size: 2, eval_every: 1}")
    run_experiment(load_config(config))
    printed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dev at step")]
    curve = json.loads((tmp_path / "runs" / "dev" / "t" / "curve.json").read_text())
    logged = [r for r in curve if "dev_score" in r]
    assert [line.split(":")[0] for line in printed] == [f"dev at step {r['step']}" for r in logged]
    assert printed[0].startswith(f"dev at step 1: sst2 accuracy {logged[0]['dev_score']:.4f}")


def test_plain_progress_lines_carry_the_time_left():
    now = [0.0]
    out = io.StringIO()
    progress = _LoggedProgress(console=Console(file=out, force_terminal=False), get_time=lambda: now[0])
    task = progress.add_task("train", total=10, status="")
    progress.start_task(task)
    for done in range(1, 10):
        now[0] += 10
        progress.update(task, completed=done)
    lines = out.getvalue().splitlines()
    assert len(lines) == 9
    # One step per 10 clock seconds: at 5/10, five steps are left.
    assert "train: 5/10" in lines[4] and "ETA 0:00:50" in lines[4], lines[4]
