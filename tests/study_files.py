"""Fake finished runs for study tests: a study file with a small grid, and run folders written by
hand (metrics.json and per-example prediction rows) where the truth is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xstilts.analysis.units import example_units
from xstilts.studies.plan import StudyRun, plan_study
from xstilts.training.pipeline import resolved_config

LABELS = ("entailment", "neutral", "contradiction")


def study_text(output_dir: Path, claims: str, axes: str, untestable: str = "{}", task: str = "xnli") -> str:
    return f"""
name: fake
title: A fake study
question: Does intermediate training help?
references: {{paper: "Someone et al. 2020. A paper. arXiv:0000.00000"}}
setups:
  offline:
    description: fake runs
    notes: ["a substituted model"]
    untestable: {untestable}
    grid:
      base:
        name: fake
        model: tiny
        output_dir: {output_dir}
        phases:
          - {{name: target, task: {task}, max_examples: 100}}
          - {{name: zero-shot, kind: evaluate, task: {task}, max_examples: 300}}
      axes:
{axes}
claims:
{claims}
"""


def write_study(tmp_path: Path, claims: str, axes: str, **kwargs) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(study_text(tmp_path / "runs", claims, axes, **kwargs), encoding="utf-8")
    return path


def classification_rows(outcomes, lang: str) -> list[dict]:
    """Item i has gold LABELS[i % 3] in every language (a parallel set); outcome 1 = right."""
    return [{"id": f"{lang}:{i}", "label": LABELS[i % 3], "prediction": LABELS[i % 3] if ok else LABELS[(i + 1) % 3],
             "probabilities": [0.4, 0.3, 0.3]} for i, ok in enumerate(outcomes)]


def planted(n: int, right: int, seed: int) -> list[int]:
    """n outcomes, `right` of them 1, in a seeded random order."""
    outcomes = np.array([1] * right + [0] * (n - right))
    np.random.default_rng(seed).shuffle(outcomes)
    return outcomes.tolist()


def write_run(run: StudyRun, rows_by_lang: dict[str, list[dict]], task: str = "xnli",
              metrics: tuple[str, ...] = ("accuracy",), source: str = "en") -> Path:
    run_dir = run.run_dir
    languages = {}
    for lang, rows in rows_by_lang.items():
        path = run_dir / "zero-shot" / "predictions" / task / f"dev-{lang}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        languages[lang] = {m: example_units(m, rows, lang, path).score() for m in metrics} | {"n": len(rows)}
    average = {m: float(np.mean([s[m] for s in languages.values()])) for m in metrics}
    summary = {"name": run.name, "config": resolved_config(run.config), "task_versions": {task: 1},
               "phases": {"zero-shot": {"kind": "evaluate", "task": task, "split": "dev", "source_language": source,
                                        "languages": languages, "average": average, "zero_shot_average": average}}}
    (run_dir / "metrics.json").write_text(json.dumps(summary), encoding="utf-8")
    return run_dir


def runs_by_levels(path: Path) -> dict[tuple[str, ...], StudyRun]:
    return {tuple(r.levels.values()): r for r in plan_study(path).runs}
