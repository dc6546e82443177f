"""`xstilts attack` end to end on the tiny run: what it saves, determinism, and reuse of a
perturbed set by another model on identical inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from robustness_helpers import DICTIONARIES, make_run, read_jsonl

from xstilts.data.loading import DataSettings
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.robustness import attack as attack_module
from xstilts.robustness.attack import AttackOptions, latest_model_dir, run_attack
from xstilts.robustness.perturbed_sets import PerturbedSet
from xstilts.robustness.registry import build_perturbations

NAMES = "char-noise,word-order,code-switch,code-switch-adversarial,textfooler,checklist-negation"
REPO = Path(__file__).resolve().parents[3]


def _options(data_dir: Path, names: str = NAMES, task: str = "xnli", languages=("en", "de"), **kw) -> AttackOptions:
    perturbations = kw.pop("perturbations", None) or build_perturbations(
        names, ["textfooler.min_similarity=-1", "textfooler.frequent_words_kept=0"] if "textfooler" in names else [],
        {"seed": 42, "strength": 0.3, "query_budget": 20})
    return AttackOptions(spec=get_task(task), languages=list(languages), perturbations=perturbations, seed=42, max_length=32,
                         dictionaries=[DICTIONARIES], data=DataSettings(dir=data_dir), **kw)


def _spy(monkeypatch, owner, name: str, inputs) -> list:
    """Records what `inputs(*args)` picks from every call of owner.name."""
    calls = []
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(inputs(*args))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_attack_saves_perturbed_sets_manifest_and_tables(tiny_run, tiny_data_dir):
    out = tiny_run / "attack" / "xnli"
    summary = run_attack(latest_model_dir(tiny_run), _options(tiny_data_dir), out)
    assert summary["model"] == str(tiny_run / "target" / "model")  # the last train phase
    manifest = json.loads((out / "perturbed" / "manifest.json").read_text())
    assert manifest["seed"] == 42 and manifest["languages"] == ["en", "de"]
    assert manifest["perturbations"]["char-noise"]["strength"] == 0.3
    assert manifest["dictionaries"] == sorted(str(DICTIONARIES / f) for f in ("en-ru.tsv", "freedict-eng-deu.index"))
    assert set(manifest["language_pairs"]["en"]["code-switch"]) <= {"en-de", "en-ru"}
    en = summary["languages"]["en"]
    assert en["n"] == 6 and len(read_jsonl(out / "perturbed" / "xnli" / "clean" / "en.jsonl")) == 6
    for name in NAMES.split(","):
        rows = read_jsonl(out / "perturbed" / "xnli" / name / "en.jsonl")
        assert rows and en["perturbations"][name]["n"] == len(rows)
        assert len(read_jsonl(out / "predictions" / "xnli" / name / "en.jsonl")) == len(rows)
    metrics = en["perturbations"]["textfooler"]
    assert 0 < metrics["mean_queries"] <= 20 and metrics["ci"]["perturbed_accuracy"]
    assert en["perturbations"]["checklist-negation"]["n"] == 2  # the two entailment pairs with "is"
    table = (out / "table.md").read_text()
    assert "| en | 6 |" in table and "label-changing tests" in table


def test_same_seed_same_perturbed_sets(tmp_path, tiny_run, tiny_data_dir):
    first, second = tmp_path / "one", tmp_path / "two"
    run_attack(latest_model_dir(tiny_run), _options(tiny_data_dir), first)
    run_attack(latest_model_dir(tiny_run), _options(tiny_data_dir), second)
    files = sorted(p.relative_to(first) for p in (first / "perturbed").rglob("*") if p.is_file())
    assert len(files) == 1 + 2 * 7
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_reusing_a_perturbed_set_evaluates_identical_inputs(tmp_path, tiny_run, tiny_data_dir, tiny_model_dir,
                                                            monkeypatch):
    evaluated = _spy(monkeypatch, attack_module, "_evaluate", lambda records, *rest: [r.example for r in records])
    made = run_attack(latest_model_dir(tiny_run), _options(tiny_data_dir), tmp_path / "made")
    fresh = evaluated[:]
    other_run = make_run(tmp_path / "runs" / "other", tiny_model_dir, seed=1)  # another model
    evaluated.clear()
    scored = _spy(monkeypatch, attack_module.ModelScorer, "probabilities", lambda self, examples: list(examples))
    saved = PerturbedSet(tmp_path / "made")  # the output folder works as well as its perturbed/
    reused = run_attack(latest_model_dir(other_run), _options(tmp_path / "nowhere", reuse=saved,
                                                              perturbations=saved.perturbations),
                        tmp_path / "reused")
    assert evaluated == fresh and len(fresh) == 2 * 6
    # No search with the other model: per language one clean pass and one pass per perturbation.
    assert len(scored) == 2 * (1 + 6)
    assert reused["reused"] and reused["languages"]["en"]["perturbations"]["textfooler"]["transfer"]
    assert reused["languages"]["en"]["perturbations"]["textfooler"]["mean_queries"] is None
    assert "transfer" not in reused["languages"]["en"]["perturbations"]["char-noise"]
    assert made["languages"]["en"]["n"] == reused["languages"]["en"]["n"]


def test_reuse_refuses_another_task_and_missing_languages(tmp_path, tiny_run, tiny_data_dir):
    run_attack(latest_model_dir(tiny_run), _options(tiny_data_dir, names="char-noise", languages=["de"]),
               tmp_path / "made")
    saved = PerturbedSet(tmp_path / "made" / "perturbed")
    with pytest.raises(XstiltsError, match="holds task 'xnli', not 'xcopa'"):
        run_attack(latest_model_dir(tiny_run), _options(tiny_data_dir, task="xcopa", reuse=saved), tmp_path / "x")
    with pytest.raises(XstiltsError, match="has no 'en'"):
        run_attack(latest_model_dir(tiny_run), _options(tiny_data_dir, languages=["en"], reuse=saved), tmp_path / "x")


def test_multiple_choice_attack_keeps_the_question(tiny_run, tiny_data_dir):
    out = tiny_run / "attack" / "xcopa"
    summary = run_attack(latest_model_dir(tiny_run), _options(
        tiny_data_dir, names="char-noise,textfooler,checklist-negation", task="xcopa", languages=["sw"]), out)
    results = summary["languages"]["sw"]["perturbations"]
    assert results["checklist-negation"] == {"skipped": "not an NLI task (needs entailment and contradiction labels)"}
    for row in read_jsonl(out / "perturbed" / "xcopa" / "char-noise" / "sw.jsonl"):
        assert row["texts"][0].endswith(("What was the cause?", "What happened as a result?"))
        assert len(row["choices"]) == 2


def test_cli_attack_prints_the_table_and_rejects_unknown_perturbations(tiny_run, tiny_data_dir):
    env = {**os.environ, "COLUMNS": "200"}
    command = [sys.executable, "-m", "xstilts.cli", "attack", str(tiny_run), "--task", "xnli", "--languages", "de",
               "--data-dir", str(tiny_data_dir)]
    done = subprocess.run(command + ["--perturbations", "char-noise,word-order", "--strength", "0.5"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "change from clean accuracy" in done.stdout and "char-noise" in done.stdout
    assert (tiny_run / "attack" / "xnli" / "perturbed" / "xnli" / "word-order" / "de.jsonl").is_file()
    bad = subprocess.run(command + ["--perturbations", "char-nosie"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith(
        "error: --perturbations: unknown perturbation 'char-nosie'. Did you mean 'char-noise'?")
