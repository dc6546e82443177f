"""Each claim type verified on fake runs where the truth is known: a planted effect is found
(supported), a null one is not (inconclusive), a reversed one is contradicted."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from study_files import classification_rows, planted, runs_by_levels, write_run, write_study
from xstilts.errors import XstiltsError
from xstilts.metrics.degenerate import check_predictions
from xstilts.studies.plan import plan_study
from xstilts.studies.report import build_study_report, floor_runs
from xstilts.studies.schema import Expectation
from xstilts.studies.verify import decide, verify_study
from xstilts.training.pipeline import resolved_config
from xstilts.typology.distances import distances_from

AXES = """\
        intermediate: {none: {phases.0.lr: 0.0001}, mnli: {phases.0.lr: 0.0002}, qqp: {phases.0.lr: 0.0003}}
        seed: [1, 2]"""
RIGHT = {"none": 150, "mnli": 195, "qqp": 150}  # of 300 per language: mnli +15 points, qqp +0


def _claim(claim_id: str, a: str, b: str, expect: str) -> str:
    return f"""\
  - id: {claim_id}
    type: difference
    statement: {a} beats {b}
    source: {{reference: paper, where: Table 1}}
    a: {{levels: {{intermediate: {a}}}}}
    b: {{levels: {{intermediate: {b}}}}}
    measure: {{task: xnli}}
    expect: {expect}
"""


def _write_grid_runs(path, right=RIGHT, languages=("en", "de", "ar")):
    for (level, seed_level), run in runs_by_levels(path).items():
        seed = run.config.seed
        shuffle = seed * 100 + 10 * list(right).index(level)  # the levels' right items differ
        write_run(run, {lang: classification_rows(planted(300, right[level], shuffle + i), lang)
                        for i, lang in enumerate(languages)})


@pytest.fixture()
def difference_study(tmp_path):
    claims = "".join([
        _claim("planted", "mnli", "none", "{direction: increase}"),
        _claim("null-effect", "qqp", "none", "{direction: increase}"),
        _claim("reversed", "none", "mnli", "{direction: increase}"),
        _claim("size-right", "mnli", "none", "{direction: increase, size: 15, tolerance: 3}"),
        _claim("size-wrong", "mnli", "none", "{direction: increase, size: 40, tolerance: 3}"),
        _claim("no-effect", "qqp", "none", "{direction: none, tolerance: 8}"),
        _claim("not-run", "mnli", "none", "{direction: increase}"),
    ])
    path = write_study(tmp_path, claims, AXES, untestable="{not-run: HellaSwag is not in the offline data}")
    _write_grid_runs(path)
    return path


def test_difference_claims(difference_study):
    results = {r.claim.id: r for r in verify_study(plan_study(difference_study), n_boot=500).results}
    planted_result = results["planted"]
    assert planted_result.verdict == "supported"
    # The effect is the zero-shot average (de, ar) over both seeds: exactly the planted 15 points.
    assert planted_result.effect == pytest.approx(15.0)
    assert planted_result.ci[0] > 0 and planted_result.confidence > 0.97
    assert planted_result.languages == ("de", "ar")
    assert [len(c.runs) for c in planted_result.conditions] == [2, 2]
    assert results["null-effect"].verdict == "inconclusive" and results["null-effect"].effect == pytest.approx(0.0)
    assert results["null-effect"].too_small is not None
    assert results["reversed"].verdict == "contradicted" and results["reversed"].effect == pytest.approx(-15.0)
    assert results["size-right"].verdict == "supported"
    assert results["size-wrong"].verdict == "contradicted"
    assert results["no-effect"].verdict == "supported"
    assert results["not-run"].verdict == "untestable-here"
    assert results["not-run"].reason == "HellaSwag is not in the offline data"


def test_a_condition_without_finished_runs_is_untestable(tmp_path):
    path = write_study(tmp_path, _claim("planted", "mnli", "none", "{direction: increase}"), AXES)
    result = verify_study(plan_study(path), n_boot=200).results[0]
    assert result.verdict == "untestable-here"
    assert "none of its 2 runs has finished" in result.reason and "xstilts study run" in result.reason


def test_an_unknown_level_is_refused_with_its_key_path(tmp_path):
    path = write_study(tmp_path, _claim("typo", "mnlii", "none", "{direction: increase}"), AXES)
    with pytest.raises(XstiltsError, match=r"claims\.0\.a\.levels\.intermediate: no level 'mnlii'\. Did you mean 'mnli'"):
        plan_study(path)


def test_a_study_file_error_names_file_and_key(tmp_path):
    path = write_study(tmp_path, _claim("x", "mnli", "none", "{direction: upward}"), AXES)
    with pytest.raises(XstiltsError, match=r"study\.yaml: claims\.0\.expect\.direction: Input should be"):
        plan_study(path)


def test_identical_configs_are_one_run(tmp_path):
    axes = """\
        intermediate: {none: {}, mnli: {phases.0.lr: 0.0002}}
        order: {sequential: {}, interleaved: {}}"""
    path = write_study(tmp_path, _claim("x", "mnli", "none", "{direction: increase}"), axes)
    plan = plan_study(path)
    assert len(plan.runs) == 4 and [r.name for r in plan.unique_runs] == ["fake-none-sequential", "fake-mnli-sequential"]
    alias = next(r for r in plan.runs if r.name == "fake-none-interleaved")
    assert alias.run_dir.name == "fake-none-sequential"


def _ranking(order: list[str]) -> str:
    levels = ", ".join(f"{{levels: {{intermediate: {level}}}}}" for level in order)
    return f"""\
  - id: rank-{'-'.join(order)}
    type: ranking
    statement: {' > '.join(order)}
    source: {{reference: paper}}
    order: [{levels}]
    measure: {{task: xnli, languages: all}}
"""


def test_ranking_claims(tmp_path):
    right = {"none": 150, "mnli": 210, "qqp": 180}
    path = write_study(tmp_path, _ranking(["mnli", "qqp", "none"]) + _ranking(["qqp", "mnli", "none"]), AXES)
    _write_grid_runs(path, right)
    right_order, wrong_order = verify_study(plan_study(path), n_boot=500).results
    assert right_order.verdict == "supported" and right_order.effect == pytest.approx(10.0)  # qqp - none
    assert wrong_order.verdict == "contradicted" and wrong_order.effect == pytest.approx(-10.0)  # qqp - mnli


SLOPE_LANGUAGES = ("en", "de", "fr", "ru", "ar", "hi", "sw", "zh", "ja")


def _slope_claims() -> str:
    return """\
  - id: falls
    type: slope
    statement: accuracy falls with syntactic distance without intermediate training
    source: {reference: paper}
    condition: {levels: {intermediate: none}}
    measure: {task: xnli}
    distance: syntactic
    expect: {direction: decrease}
  - id: flat
    type: slope
    statement: accuracy falls with distance after qqp
    source: {reference: paper}
    condition: {levels: {intermediate: qqp}}
    measure: {task: xnli}
    expect: {direction: decrease}
  - id: mnli-more-robust
    type: slope_difference
    statement: mnli makes accuracy fall less with distance than none
    source: {reference: paper}
    a: {levels: {intermediate: mnli}}
    b: {levels: {intermediate: none}}
    measure: {task: xnli}
    expect: {direction: increase}
"""


def test_slope_claims(tmp_path):
    distance = distances_from("en", SLOPE_LANGUAGES, ["syntactic"]).known("syntactic")
    path = write_study(tmp_path, _slope_claims(), AXES)
    n = 600
    for (level, _), run in runs_by_levels(path).items():
        rows = {}
        for i, lang in enumerate(SLOPE_LANGUAGES):
            # none: 80% at distance 0 falling 60 points per unit; mnli: 20 per unit; qqp: flat 60%.
            fall = {"none": 60, "mnli": 20, "qqp": 0}[level]
            accuracy = (80 if level != "qqp" else 60) - fall * distance[lang]
            rows[lang] = classification_rows(planted(n, round(n * accuracy / 100), run.config.seed * 100 + i), lang)
        write_run(run, rows)
    verification = verify_study(plan_study(path), n_boot=500)
    results = {r.claim.id: r for r in verification.results}
    assert results["falls"].verdict == "supported"
    assert results["falls"].effect == pytest.approx(-60, abs=3)
    assert results["flat"].verdict == "inconclusive" and abs(results["flat"].effect) < 3
    assert results["mnli-more-robust"].verdict == "supported"
    assert results["mnli-more-robust"].effect == pytest.approx(40, abs=4)
    assert "en" not in results["falls"].languages  # zero-shot languages only
    # The report draws each slope claim: values against distance, an OLS line per condition.
    page = build_study_report(verification, tmp_path / "report")
    assert sorted(p.name for p in (page.parent / "figures").iterdir()) == [
        "claims.png", "falls.png", "flat.png", "mnli-more-robust.png"]


def _write_attack(run_dir, lang_outcomes: dict[str, tuple[list[int], list[int]]], clean_check: dict | None = None):
    """An `xstilts attack` on xnli with char-noise: per language, clean and perturbed outcomes
    (and the check of the clean predictions, when given)."""
    attack = run_dir / "attack" / "xnli"
    languages = {}
    for lang, (clean, perturbed) in lang_outcomes.items():
        rows = [{"id": f"{lang}:{i}", "label": "entailment", "clean_prediction": "entailment" if c else "neutral",
                 "prediction": "entailment" if p else "neutral"} for i, (c, p) in enumerate(zip(clean, perturbed))]
        path = attack / "predictions" / "xnli" / "char-noise" / f"{lang}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        languages[lang] = {"n": len(rows), "clean_accuracy": float(np.mean(clean)),
                           "perturbations": {"char-noise": {"degradation": float(np.mean(clean) - np.mean(perturbed))}}}
        if clean_check is not None:
            languages[lang]["clean_check"] = clean_check
    (attack / "results.json").write_text(json.dumps({
        "task": "xnli", "split": "dev", "languages": languages,
        "perturbations": {"char-noise": {"label_preserving": True, "uses_model": False}}}), encoding="utf-8")


def test_degradation_claims(tmp_path):
    claims = """\
  - id: sequential-degrades-less
    type: degradation
    statement: mnli loses less accuracy under char noise than none
    source: {reference: paper}
    a: {levels: {intermediate: none}}
    b: {levels: {intermediate: mnli}}
    task: xnli
    perturbations: [char-noise]
    expect: {direction: increase}
  - id: qqp-degrades
    type: degradation
    statement: qqp loses accuracy under char noise
    source: {reference: paper}
    a: {levels: {intermediate: qqp}}
    task: xnli
    perturbations: [char-noise]
    expect: {direction: increase}
  - id: missing-perturbation
    type: degradation
    statement: word order hurts
    source: {reference: paper}
    a: {levels: {intermediate: qqp}}
    task: xnli
    perturbations: [word-order]
    expect: {direction: increase}
"""
    path = write_study(tmp_path, claims, AXES)
    _write_grid_runs(path)
    drop = {"none": 60, "mnli": 15, "qqp": 30}  # of 200 clean-right examples
    for (level, _), run in runs_by_levels(path).items():
        clean = [1] * 200 + [0] * 100
        perturbed = [0] * drop[level] + [1] * (200 - drop[level]) + [0] * 100
        _write_attack(run.run_dir, {"de": (clean, perturbed), "ar": (clean, perturbed)})
    results = {r.claim.id: r for r in verify_study(plan_study(path), n_boot=500).results}
    assert results["sequential-degrades-less"].verdict == "supported"
    assert results["sequential-degrades-less"].effect == pytest.approx(100 * (60 - 15) / 300)
    assert results["qqp-degrades"].verdict == "supported" and results["qqp-degrades"].effect == pytest.approx(10.0)
    assert results["missing-perturbation"].verdict == "untestable-here"
    assert "did not run perturbation 'word-order'" in results["missing-perturbation"].reason


@pytest.mark.parametrize(("direction", "centre", "verdict"), [
    ("increase", 5.0, "supported"), ("increase", -5.0, "contradicted"), ("increase", 0.5, "inconclusive"),
    ("decrease", -5.0, "supported"), ("decrease", 5.0, "contradicted"), ("decrease", -0.5, "inconclusive"),
])
def test_decision_rule_both_directions(direction, centre, verdict):
    replicates = centre + np.random.default_rng(0).normal(0, 1, 2000)  # CI about centre +- 2
    got, confidence, (low, high), too_small = decide(replicates, centre, Expectation(direction=direction))
    assert got == verdict
    assert low < centre < high
    assert (confidence > 0.95) if verdict != "inconclusive" else (0.2 < confidence < 1)
    assert (too_small is not None) == (verdict == "inconclusive")


def _tagging_rows(lang: str, found: float, seed: int) -> list[dict]:
    """300 sentences of two PER chunks each; a share `found` of the chunks predicted."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(300):
        gold = ["B-PER", "I-PER", "O", "B-PER"]
        predicted = [tag if rng.random() < found else "O" for tag in gold]
        rows.append({"id": f"{lang}:{i}", "words": ["w"] * 4, "label": gold, "prediction": predicted})
    return rows


def test_a_span_f1_claim(tmp_path):
    claim = _claim("panx", "mnli", "none", "{direction: increase}").replace("task: xnli", "task: panx")
    path = write_study(tmp_path, claim, AXES, task="panx")
    for (level, _), run in runs_by_levels(path).items():
        found = 0.9 if level == "mnli" else 0.6
        write_run(run, {lang: _tagging_rows(lang, found, run.config.seed + i) for i, lang in enumerate(("en", "de", "ar"))},
                  task="panx", metrics=("span_f1",))
    (result,) = verify_study(plan_study(path), n_boot=300).results
    assert result.verdict == "supported" and result.effect > 10
    assert result.conditions[0].units == "sentences" and result.conditions[0].unit_counts == {"de": 300, "ar": 300}
    assert "panx span_f1 (zero-shot average)" in result.what


def test_a_measure_over_several_tasks_averages_the_tasks(tmp_path):
    axes = """\
        intermediate: {none: {phases.0.lr: 0.0001}, mnli: {phases.0.lr: 0.0002}}
        target: {xnli: {}, panx: {phases.0.task: panx, phases.1.task: panx}}"""
    claim = _claim("both", "mnli", "none", "{direction: increase}").replace("task: xnli", "task: [xnli, panx]")
    path = write_study(tmp_path, claim, axes)
    for (level, target), run in runs_by_levels(path).items():
        if target == "xnli":  # +10 points with mnli, in two languages
            right = {"none": 150, "mnli": 180}[level]
            write_run(run, {lang: classification_rows(planted(300, right, i), lang)
                            for i, lang in enumerate(("en", "de", "sw"))})
        else:  # a span F1 gain measured in three languages
            found = {"none": 0.6, "mnli": 0.9}[level]
            write_run(run, {lang: _tagging_rows(lang, found, i) for i, lang in enumerate(("en", "de", "ar", "sw"))},
                      task="panx", metrics=("span_f1",))
    (result,) = verify_study(plan_study(path), n_boot=300).results
    a, b = result.conditions
    panx_gain = np.mean([a.points[f"panx:{lang}"] - b.points[f"panx:{lang}"] for lang in ("de", "ar", "sw")])
    assert len(a.points) == 5 and a.task_of["xnli:de"] == "xnli"
    # Each task counts once, whatever its number of languages.
    assert result.effect == pytest.approx((10.0 + panx_gain) / 2)
    assert result.verdict == "supported" and "mean over xnli, panx" in result.what


def test_a_level_naming_an_unknown_phase_is_refused(tmp_path):
    axes = """\
        intermediate: {none: {phases.targt.lr: 0.1}, mnli: {}}"""
    path = write_study(tmp_path, _claim("x", "mnli", "none", "{direction: increase}"), axes)
    with pytest.raises(XstiltsError, match=r"grid\.axes\.intermediate\.none: phases\.targt\.lr: no phase named 'targt'"):
        plan_study(path)


def test_a_finished_run_with_the_same_config_is_reused(tmp_path):
    axes = """\
        intermediate: {none: {phases.0.lr: 0.0001}, mnli: {phases.0.lr: 0.0002}}"""
    path = write_study(tmp_path, _claim("x", "mnli", "none", "{direction: increase}"), axes)
    none = next(r for r in plan_study(path).runs if r.levels["intermediate"] == "none")
    # The same config, finished under another name (e.g. by another study).
    other = tmp_path / "runs" / "made-elsewhere"
    other.mkdir(parents=True)
    resolved = resolved_config(none.config) | {"name": "made-elsewhere"}
    (other / "config.yaml").write_text(yaml.safe_dump(resolved), encoding="utf-8")
    plan = plan_study(path)
    assert [r.run_dir.name for r in plan.runs] == ["fake-none", "fake-mnli"]  # not finished: not reused
    (other / "metrics.json").write_text("{}", encoding="utf-8")
    plan = plan_study(path)
    assert [r.run_dir.name for r in plan.runs] == ["made-elsewhere", "fake-mnli"]
    assert [r.name for r in plan.unique_runs] == ["fake-mnli"]
    write_run(plan.runs[0], {"en": classification_rows([1, 0, 1], "en"), "de": classification_rows([1, 0, 0], "de")})
    assert list(verify_study(plan, n_boot=100).finished) == ["made-elsewhere"]


def test_rounding_noise_decides_nothing():
    replicates = np.full(500, -1e-15)  # e.g. the slope of identical scores
    verdict, confidence, (low, high), _ = decide(replicates, -1e-15, Expectation(direction="decrease"))
    assert verdict == "inconclusive" and low == high == 0


# ---------------------------------------------------------------- models that did not learn


def _two_task_runs(path, panx_found: dict[str, float]):
    for (level, target), run in runs_by_levels(path).items():
        if target == "xnli":  # +10 points with mnli
            right = {"none": 150, "mnli": 180}[level]
            write_run(run, {lang: classification_rows(planted(300, right, i), lang)
                            for i, lang in enumerate(("en", "de", "sw"))})
        else:
            write_run(run, {lang: _tagging_rows(lang, panx_found[level], i) for i, lang in enumerate(("en", "de", "ar"))},
                      task="panx", metrics=("span_f1",))


TWO_TASKS = """\
        intermediate: {none: {phases.0.lr: 0.0001}, mnli: {phases.0.lr: 0.0002}}
        target: {xnli: {}, panx: {phases.0.task: panx, phases.1.task: panx}}"""


def test_a_task_no_run_learned_is_left_out_of_the_average(tmp_path):
    claim = _claim("both", "mnli", "none", "{direction: increase}").replace("task: xnli", "task: [xnli, panx]")
    path = write_study(tmp_path, claim, TWO_TASKS)
    _two_task_runs(path, {"none": 0.0, "mnli": 0.0})  # every tagger predicts no entity: span F1 0
    verification = verify_study(plan_study(path), n_boot=300)
    (result,) = verification.results
    # The floor-against-floor task would have halved the +10 of xnli; it is named instead.
    assert result.effect == pytest.approx(10.0) and result.verdict == "supported"
    assert list(result.conditions[0].points) == ["xnli:de", "xnli:sw"]
    assert "en span_f1 0" in result.conditions[0].tasks_not_learned["panx"]
    page = build_study_report(verification, tmp_path / "report")
    markdown = page.with_suffix(".md").read_text(encoding="utf-8")
    assert "Left out of the average because no run learned them (a floor against a floor): panx (" in markdown
    assert "panx in every run" in markdown  # the limitations say it too
    saved = json.loads((tmp_path / "report" / "verdicts.json").read_text(encoding="utf-8"))
    assert "panx" in saved["claims"][0]["tasks_not_learned"]


def test_a_claim_on_a_task_no_run_learned_is_untestable(tmp_path):
    claim = _claim("panx", "mnli", "none", "{direction: increase}").replace("task: xnli", "task: panx") + """\
  - id: overlapping-ranking
    type: ranking
    statement: mnli, then seed 1 of any level
    source: {reference: paper}
    order: [{levels: {intermediate: mnli}}, {levels: {seed: seed1}}]
    measure: {task: panx}
"""
    path = write_study(tmp_path, claim, AXES, task="panx")
    for (_, _), run in runs_by_levels(path).items():
        write_run(run, {lang: _tagging_rows(lang, 0.0, i) for i, lang in enumerate(("en", "de", "ar"))},
                  task="panx", metrics=("span_f1",))
    result, ranking = verify_study(plan_study(path), n_boot=300).results
    assert result.verdict == "untestable-here" and result.effect is None
    assert result.reason.startswith("no run learned panx (") and "en span_f1 0" in result.reason
    # A run both conditions select (mnli, seed 1) counts once: every run is still a floor.
    assert ranking.verdict == "untestable-here" and ranking.reason.startswith("no run learned panx (")


def test_a_condition_that_did_not_learn_is_named_beside_its_values(tmp_path):
    path = write_study(tmp_path, _claim("planted", "mnli", "none", "{direction: increase}"), AXES)
    _write_grid_runs(path)
    for (level, _), run in runs_by_levels(path).items():
        if level == "none":  # one class for every English example: it never learned NLI
            rows = classification_rows(planted(300, 100, 0), "en")
            (run.run_dir / "zero-shot" / "predictions" / "xnli" / "dev-en.jsonl").write_text(
                "".join(json.dumps({**r, "prediction": "entailment"}) + "\n" for r in rows), encoding="utf-8")
    (result,) = verify_study(plan_study(path), n_boot=300).results
    mnli, none = result.conditions
    assert result.verdict == "supported"  # a real difference: one condition learned, one did not
    assert not mnli.not_learned
    assert sorted(none.not_learned) == [r.name for r in none.runs]
    assert floor_runs(result) == "2 of 4 runs"  # the claims table's and abstract's caveat
    assert all("en one class: 'entailment'" in why for why in none.not_learned.values())


def test_degradation_of_models_at_chance_is_untestable(tmp_path):
    claim = """\
  - id: noise-hurts
    type: degradation
    statement: char noise hurts
    source: {reference: paper}
    a: {levels: {intermediate: mnli}}
    task: xnli
    perturbations: [char-noise]
    expect: {direction: increase}
"""
    path = write_study(tmp_path, claim, AXES)
    _write_grid_runs(path)
    labels = ["entailment", "neutral", "contradiction"] * 100
    checks = {"untestable-here": check_predictions(labels, ["neutral"] * 300, 3),  # one class, 33% vs chance 33%
              "supported": check_predictions(labels, labels[:200] + ["neutral"] * 100, 3)}  # 78%
    for verdict, check in checks.items():
        for (level, _), run in runs_by_levels(path).items():
            clean, perturbed = [1] * 200 + [0] * 100, [0] * 30 + [1] * 170 + [0] * 100
            _write_attack(run.run_dir, {"de": (clean, perturbed), "ar": (clean, perturbed)}, check.as_dict())
        (result,) = verify_study(plan_study(path), n_boot=300).results
        assert result.verdict == verdict
        if verdict == "untestable-here":
            assert "no run learned xnli: clean accuracy is at chance in every run" in result.reason
            assert "clean accuracy 33.3 [" in result.reason and "chance 33.3" in result.reason
