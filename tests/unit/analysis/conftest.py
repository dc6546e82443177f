"""Fake finished runs on disk (metrics.json and per-example predictions, written by hand)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

LABELS = ("entailment", "neutral", "contradiction")


def write_run(root: Path, name: str, correct: dict[str, int | list[int]], model: str = "builtin:multilingual-e5-small",
              encoder_layers: int | None = None, intermediate: str | None = None, seed: int = 42,
              task: str = "xnli", n: int = 60, target_options: dict | None = None) -> Path:
    """A run directory whose zero-shot phase got `correct[lang]` right: a list of 1/0 per item, or
    a count k (the first k of n items right). Item i has gold label LABELS[i % 3] in every
    language, as in a parallel test set."""
    correct = {lang: [1] * k + [0] * (n - k) if isinstance(k, int) else k for lang, k in correct.items()}
    run_dir = root / name
    train = [{"kind": "train", "name": "intermediate", "task": intermediate}] if intermediate else []
    train.append({"kind": "train", "name": "target", "task": task, **(target_options or {})})
    phases = train + [{"kind": "evaluate", "name": "zero-shot", "task": task, "split": "dev"}]
    languages = {}
    for lang, outcomes in correct.items():
        rows = [{"id": f"{lang}:{i}", "label": LABELS[i % 3],
                 "prediction": LABELS[i % 3] if ok else LABELS[(i + 1) % 3], "probabilities": [0.4, 0.3, 0.3]}
                for i, ok in enumerate(outcomes)]
        path = run_dir / "zero-shot" / "predictions" / task / f"dev-{lang}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        languages[lang] = {"accuracy": sum(outcomes) / len(outcomes), "n": len(outcomes)}
    others = [s["accuracy"] for lang, s in languages.items() if lang != "en"]
    summary = {
        "name": name,
        "config": {"name": name, "model": model, "encoder_layers": encoder_layers, "seed": seed,
                   "max_length": 128, "phases": phases},
        "task_versions": {task: 1},
        "phases": {"zero-shot": {
            "kind": "evaluate", "task": task, "split": "dev", "source_language": "en", "languages": languages,
            "average": {"accuracy": sum(s["accuracy"] for s in languages.values()) / len(languages)},
            "zero_shot_average": {"accuracy": sum(others) / len(others)},
        }},
    }
    (run_dir / "metrics.json").write_text(json.dumps(summary), encoding="utf-8")
    return run_dir


@pytest.fixture(scope="session")
def run_writer():
    """write_run, for fixtures of any scope."""
    return write_run


@pytest.fixture()
def make_run(tmp_path):
    """write_run into tmp_path/runs."""
    return partial(write_run, tmp_path / "runs")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
