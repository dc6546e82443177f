"""Degenerate models (one class for every example, or accuracy indistinguishable from chance)
are detected once (metrics/degenerate.py) and named wherever their numbers appear: the run
summary and terminal table, `compare`, `report`, and the attack tables."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from xstilts.analysis.compare import compare_runs, comparison_markdown
from xstilts.analysis.report import build_report
from xstilts.evaluation.summary import language_table, render_summary
from xstilts.metrics.degenerate import check_predictions, check_records, pooled_accuracy, wilson_interval
from xstilts.robustness.report import overview, per_perturbation, render_markdown

NLI = ("entailment", "neutral", "contradiction")


def test_wilson_interval_matches_the_formula():
    # 30 of 60: centre 0.5, half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    low, high = wilson_interval(30, 60)
    assert (low, high) == pytest.approx((0.3773, 0.6227), abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0 and wilson_interval(10, 10)[1] == pytest.approx(1)


def test_pooled_accuracy_counts_every_example_once():
    # 50 of 100 and 21 of 30 right: 71 of 130, not the mean of 0.5 and 0.7.
    accuracy, low, high = pooled_accuracy([(0.5, 100), (0.7, 30)])
    assert accuracy == pytest.approx(71 / 130)
    assert (low, high) == wilson_interval(71, 130)


def test_constant_chance_and_learned_predictors():
    golds = [NLI[i % 3] for i in range(90)]
    constant = check_predictions(golds, ["neutral"] * 90, 3)
    assert constant.constant and constant.at_chance
    assert constant.verdict() == "one class: 'neutral' for 100% of examples"
    guessing = check_predictions(golds, [NLI[(i * 7 // 3) % 3] for i in range(90)], 3)
    assert not guessing.constant and guessing.at_chance and guessing.verdict().startswith("at chance: ")
    learned = check_predictions(golds, [g if i % 4 else NLI[(i + 1) % 3] for i, g in enumerate(golds)], 3)
    assert learned.verdict() is None and learned.accuracy == pytest.approx(67 / 90)
    # Predicting the majority class of a test set that is 95% that class is not "one class".
    skewed = ["a"] * 95 + ["b"] * 5
    assert not check_predictions(skewed, ["a"] * 95 + ["b"] * 5, 2).degenerate
    wrong = check_predictions(golds, [NLI[(i + 1) % 3] for i in range(90)], 3)
    assert wrong.verdict().startswith("below chance: 0.0")


def test_records_without_class_labels_are_not_checked():
    assert check_records([{"id": "1", "answers": ["x"], "prediction": "x"}]) is None
    rows = [{"id": "1", "label": "a", "prediction": "b", "probabilities": [0.4, 0.6]},
            {"id": "2", "label": "b", "prediction": "b", "probabilities": [0.3, 0.7]}]
    assert check_records(rows).chance == 0.5 and check_records(rows).accuracy == 0.5


def _phase(checks: dict[str, dict]) -> dict:
    languages = {lang: {"accuracy": c.accuracy, "n": c.n, "predictions_check": c.as_dict()} for lang, c in checks.items()}
    return {"kind": "evaluate", "task": "xnli", "split": "dev", "source_language": "en", "languages": languages,
            "average": {"accuracy": 0.5}, "zero_shot_average": {"accuracy": 0.4}}


def test_summary_and_terminal_table_name_the_degenerate_language():
    golds = [NLI[i % 3] for i in range(60)]
    phase = _phase({"en": check_predictions(golds, golds, 3), "de": check_predictions(golds, ["entailment"] * 60, 3)})
    summary = {"name": "r", "config": {"model": "m", "seed": 1, "max_length": 8}, "phases": {"zero-shot": phase}}
    markdown = render_summary(summary)
    assert "| de | 33.3 | 60 | one class: 'entailment' for 100% of examples |" in markdown
    assert "| en | 100.0 | 60 |  |" in markdown and "1 of 2 languages degenerate: de" in markdown
    console = Console(width=200, record=True)
    console.print(language_table("r zero-shot", phase))
    assert "one class: 'entailment'" in console.export_text()
    healthy = render_summary({**summary, "phases": {"zero-shot": _phase({"en": check_predictions(golds, golds, 3)})}})
    assert "warning" not in healthy


def _make_constant(run_dir, lang: str, prediction: str = "entailment") -> None:
    path = run_dir / "zero-shot" / "predictions" / "xnli" / f"dev-{lang}.jsonl"
    rows = [{**json.loads(line), "prediction": prediction} for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_compare_and_report_flag_a_one_class_model(make_run, tmp_path):
    healthy = make_run("base", {"en": 50, "de": 45, "fr": 44}, intermediate="mnli")
    constant = make_run("broken", {"en": 50, "de": 20, "fr": 20}, intermediate="qqp")
    _make_constant(constant, "de")
    _make_constant(constant, "fr")
    comparison = compare_runs([healthy, constant], n_boot=200)
    markdown = comparison_markdown(comparison)
    assert "| de | 75.0 | 33.3 \u2020 |" in markdown
    assert "broken has not learned the task in 2 of 3 languages: de (one class: 'entailment'" in markdown
    assert "base has not learned" not in markdown
    html = build_report([healthy, constant], tmp_path / "report").read_text()
    assert "broken has not learned the task in 2 of 3 languages" in html
    assert "<td>de, fr</td>" in html  # the runs table's "not learned in" column
    assert "33.3 \u2020" in html


def _attack_summary(clean_check: dict | None) -> dict:
    perturbation = {"n": 60, "clean_accuracy": 0.333, "perturbed_accuracy": 0.333, "degradation": 0.0,
                    "relative_degradation": 0.0, "attack_success_rate": 0.0, "words_changed": 0.2,
                    "mean_queries": None, "language_pairs": {}}
    language = {"n": 60, "clean_accuracy": 0.333, "perturbations": {"char-noise": perturbation}}
    if clean_check is not None:
        language["clean_check"] = clean_check
    return {"task": "xnli", "split": "dev", "model": "m", "reused": False, "perturbed_set": "p", "seed": 1,
            "wall_seconds": 1, "dictionaries": [], "languages": {"de": language},
            "perturbations": {"char-noise": {"label_preserving": True, "uses_model": False}}}


def test_attack_tables_do_not_call_a_constant_model_robust():
    golds = [NLI[i % 3] for i in range(60)]
    constant = _attack_summary(check_predictions(golds, ["neutral"] * 60, 3).as_dict())
    title, header, rows = overview(constant)
    assert "WARNING: the model has not learned the task in de" in title and "no degradation there is robustness" in title
    assert header[-1] == "warning" and rows[0][-1].startswith("one class: 'neutral'")
    assert "WARNING" in per_perturbation(constant)[0]
    assert "not learned the task in de" in render_markdown(constant)
    learned = _attack_summary(check_predictions(golds, golds, 3).as_dict())
    assert "WARNING" not in overview(learned)[0] and overview(learned)[1][-1] == "char-noise"
    assert "WARNING" not in overview(_attack_summary(None))[0]  # results.json from before the check


def test_chance_is_the_best_input_blind_accuracy():
    # PAWS-X dev is 57% "different": answering that always scores 57, so 57 is chance there.
    golds = ["different"] * 57 + ["paraphrase"] * 43
    mostly = check_predictions(golds, ["different"] * 50 + ["paraphrase"] * 7 + ["paraphrase"] * 43, 2)
    assert mostly.chance == pytest.approx(0.57) and mostly.accuracy == pytest.approx(0.93) and not mostly.degenerate
    near_blind = check_predictions(golds, ["different"] * 40 + ["paraphrase"] * 37 + ["different"] * 23, 2)
    assert near_blind.accuracy == pytest.approx(0.6) and near_blind.at_chance  # 60 is not above 57
