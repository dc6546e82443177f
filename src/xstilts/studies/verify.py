"""`xstilts study verify STUDY`: every claim measured on the study's runs, with a 95% CI and a
verdict.

Measurement. A condition's runs are the planned runs it selects that have finished. On each run
and language the claim's metric is computed from the per-example prediction rows (units.py:
questions for QA, sentences for tagging, queries for retrieval, examples otherwise) and
bootstrapped by resampling those units; the draws are seeded by the examples (ids, or the gold
labels of parallel classification sets), so runs scored on the same examples are resampled
alike: differences between conditions are paired bootstraps. With several runs (seeds) in a
condition, each replicate also resamples the runs, sorted by seed, with draws shared by every
condition of the claim that has as many runs (paired by seed when the seeds are the same).
Averages over languages are means of the languages' values, replicate by replicate.

Decision rule, on the percentile 95% CI [lo, hi] of the effect and an expected direction
(increase or decrease):
  supported      the CI lies on the expected side of 0 (increase: lo > 0; decrease: hi < 0)
                 and, with an expected size e ± tolerance t, overlaps [e - t, e + t];
  contradicted   the CI lies on the other side of 0, or it excludes [e - t, e + t];
  inconclusive   otherwise.
Direction `none` (no effect beyond ±t): supported when the CI lies inside [-t, t],
contradicted when it lies outside it (lo > t or hi < -t), inconclusive otherwise. A ranking is
supported when every adjacent difference (better minus next) is supported as an increase,
contradicted when any is contradicted, inconclusive otherwise.
untestable-here: the setup marks the claim so (with its reason), or a condition has no finished
run, or the runs lack what the claim measures (a task, a metric, a language, an attack).

Confidence: p = the share of bootstrap replicates consistent with the claim (on the expected
side and, with a size, within e ± t; within ±t for `none`; the whole order for rankings).
Supported: p; contradicted: 1 - p; inconclusive: 2·min(p, 1 - p), which is 1 when the
replicates split evenly and falls toward 0 as they lean to one verdict. An inconclusive claim
says when the data are too small to decide: the CI half-width h exceeds the effect that would
decide it (the expected size or tolerance, else the observed effect), and about (h / effect)²
times as many examples (or seeds) would be needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from xstilts.analysis.distance_fits import MIN_LANGUAGES_FOR_FIT
from xstilts.analysis.runs import Evaluation, RunResults, load_run_results
from xstilts.analysis.stats import bootstrap_sums, ols_slope, ols_slopes, percentile_interval
from xstilts.analysis.units import Units, score_from_sums
from xstilts.errors import XstiltsError
from xstilts.metrics.degenerate import PredictorCheck, pooled_accuracy
from xstilts.studies.plan import StudyPlan, selects
from xstilts.studies.schema import Condition, Expectation, Measure
from xstilts.typology.distances import distances_from

SUPPORTED, CONTRADICTED, INCONCLUSIVE, UNTESTABLE = "supported", "contradicted", "inconclusive", "untestable-here"


class Untestable(Exception):
    """A claim cannot be tested on these runs; the message says why."""


@dataclass(frozen=True)
class ConditionResult:
    """A condition measured: its runs and each language's value (points) with replicates."""

    label: str
    runs: tuple[RunResults, ...]
    points: dict[str, float]
    replicates: dict[str, np.ndarray]
    units: str  # what was resampled: examples, questions, sentences, queries
    unit_counts: dict[str, int]  # language -> units per run (the smallest run's)
    missing_runs: tuple[str, ...] = ()  # planned runs of the condition that have not finished
    task_of: dict[str, str] = field(default_factory=dict)  # key -> task, for measures over several tasks
    tasks_left_out: tuple[str, ...] = ()  # tasks of the measure that no run of the setup evaluates
    # Tasks of the measure that no run of any condition learned (task -> what shows it, run by run), left
    # out: floor against floor measures nothing. And runs that did not learn a task kept in it.
    tasks_not_learned: dict[str, str] = field(default_factory=dict)
    not_learned: dict[str, str] = field(default_factory=dict)  # run name -> "task: what shows it"

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs})

    def average(self) -> tuple[float, np.ndarray]:
        """The mean over tasks of each task's mean over its languages (XTREME's average score)."""
        tasks: dict[str, list[str]] = {}
        for key in self.points:
            tasks.setdefault(self.task_of.get(key, ""), []).append(key)
        points = [np.mean([self.points[k] for k in keys]) for keys in tasks.values()]
        replicates = [np.mean([self.replicates[k] for k in keys], axis=0) for keys in tasks.values()]
        return float(np.mean(points)), np.mean(replicates, axis=0)


@dataclass(frozen=True)
class ClaimResult:
    claim: object  # a schema claim
    verdict: str
    reason: str = ""
    effect: float | None = None
    ci: tuple[float, float] | None = None
    unit: str = "points"
    confidence: float | None = None
    too_small: str | None = None
    conditions: tuple[ConditionResult, ...] = ()
    what: str = ""  # what the effect is, in words
    languages: tuple[str, ...] = ()
    details: dict[str, float] = field(default_factory=dict)  # each condition's value (or slope), for verdicts.json
    distances: dict[str, float] = field(default_factory=dict)  # slope claims: each language's distance


@dataclass(frozen=True)
class Verification:
    plan: StudyPlan
    results: tuple[ClaimResult, ...]
    finished: dict[str, RunResults]  # run directory name -> results
    n_boot: int
    seed: int


def verify_study(plan: StudyPlan, n_boot: int = 2000, seed: int = 0) -> Verification:
    finished = {}
    for run_dir in dict.fromkeys(run.run_dir for run in plan.runs):
        if (run_dir / "metrics.json").is_file():
            finished[run_dir.name] = load_run_results(run_dir)
    results = tuple(verify_claim(claim, plan, finished, n_boot, seed) for claim in plan.study.claims)
    return Verification(plan, results, finished, n_boot, seed)


def verify_claim(claim, plan: StudyPlan, finished: dict[str, RunResults], n_boot: int, seed: int) -> ClaimResult:
    reason = plan.setup.untestable.get(claim.id)
    if reason is not None:
        return ClaimResult(claim, UNTESTABLE, reason)
    try:
        return _CHECKS[claim.type](claim, plan, finished, n_boot, seed)
    except Untestable as exc:
        return ClaimResult(claim, UNTESTABLE, str(exc))


# ---------------------------------------------------------------- selecting and measuring runs


def _condition_runs(condition: Condition, plan: StudyPlan,
                    finished: dict[str, RunResults]) -> tuple[list[RunResults], list[str]]:
    """(finished runs, names of planned runs not finished) the condition selects, one per run directory."""
    directories = list(dict.fromkeys(r.run_dir.name for r in plan.runs if selects(condition, r)))
    if not directories:
        raise Untestable(f"no run of setup '{plan.setup_name}' matches condition '{condition.describe()}'")
    done = [finished[d] for d in directories if d in finished]
    missing = [d for d in directories if d not in finished]
    if not done:
        raise Untestable(f"condition '{condition.describe()}': none of its {len(directories)} runs has finished "
                         f"({', '.join(directories)}); run `xstilts study run {plan.path} --setup {plan.setup_name}`")
    return sorted(done, key=lambda r: (r.seed, r.name)), missing


def _evaluation(run: RunResults, measure: Measure, task: str) -> tuple[Evaluation, str] | None:
    """The run's evaluation of `task` and the metric measured, or None when it has none."""
    evaluation = run.evaluation(task, measure.phase)
    if evaluation is None:
        return None
    metric = measure.metric or evaluation.metrics[0]
    if metric not in evaluation.metrics:
        raise Untestable(f"run {run.name}: {task} is scored by {', '.join(evaluation.metrics)}, not '{metric}'")
    return evaluation, metric


def _languages(measure: Measure, task: str, runs: list[RunResults]) -> list[str]:
    """The measure's languages of `task` that every run scored."""
    sets = []
    for run in runs:
        evaluation, _ = _evaluation(run, measure, task)
        wanted = (evaluation.zero_shot_languages() if measure.languages == "zero-shot" else
                  evaluation.languages if measure.languages == "all" else measure.languages)
        sets.append([lang for lang in wanted if lang in evaluation.scores])
    common = [lang for lang in sets[0] if all(lang in s for s in sets[1:])]
    if isinstance(measure.languages, list):
        absent = [lang for lang in measure.languages if lang not in common]
        if absent:
            raise Untestable(f"{task}: language(s) {', '.join(absent)} not scored by every run")
    if not common:
        raise Untestable(f"{task}: the runs have no scored language in common")
    return common


def _seed_draws(n_runs: int, n_boot: int, seed: int) -> np.ndarray | None:
    """Which run each replicate takes in each of n_runs places; shared by conditions with as
    many runs, so that conditions with the same seeds are resampled by seed alike."""
    if n_runs == 1:
        return None
    return np.random.default_rng([seed, n_runs]).integers(0, n_runs, size=(n_boot, n_runs))


def _combine_runs(per_run: list[np.ndarray], n_boot: int, seed: int) -> np.ndarray:
    draws = _seed_draws(len(per_run), n_boot, seed)
    if draws is None:
        return per_run[0]
    stacked = np.stack(per_run)  # runs x replicates
    return stacked[draws, np.arange(n_boot)[:, None]].mean(axis=1)


def _replicates(units: Units, n_boot: int, seed: int) -> tuple[float, np.ndarray]:
    sums = bootstrap_sums(units.values, units.keys, n_boot, seed)
    return 100 * units.score(), 100 * score_from_sums(units.metric, sums, len(units))


class _Builder:
    """Collects one condition's values, (task and) language by language."""

    def __init__(self, label: str, missing: list[str]):
        self.label, self.missing = label, missing
        self.runs: dict[str, RunResults] = {}
        self.points, self.replicates, self.counts, self.task_of, self.units = {}, {}, {}, {}, []
        self.not_learned: dict[str, str] = {}

    def add(self, key: str, task: str, runs: list[RunResults], units_of, n_boot: int, seed: int) -> None:
        """`units_of(run)` -> the Units of one run for this key (a language, or task:language)."""
        per_run = [units_of(run) for run in runs]
        measured = [_replicates(units, n_boot, seed) for units in per_run]
        self.units.append(per_run[0].unit)
        self.counts[key] = min(len(units) for units in per_run)
        self.points[key] = float(np.mean([m[0] for m in measured]))
        self.replicates[key] = _combine_runs([m[1] for m in measured], n_boot, seed)
        self.task_of[key] = task
        self.runs.update({run.name: run for run in runs})

    def result(self, tasks_left_out: tuple[str, ...] = (), tasks_not_learned: dict[str, str] | None = None) -> ConditionResult:
        runs = tuple(sorted(self.runs.values(), key=lambda r: (r.seed, r.name)))
        return ConditionResult(self.label, runs, self.points, self.replicates, ", ".join(dict.fromkeys(self.units)),
                               self.counts, tuple(self.missing), self.task_of, tasks_left_out, tasks_not_learned or {},
                               self.not_learned)


def _not_learned(runs: list[RunResults], measure: Measure, task: str) -> dict[str, str]:
    """Run name -> what shows the run did not learn `task` (RunResults.not_learned)."""
    flagged = {}
    for run in runs:
        evaluation, metric = _evaluation(run, measure, task)
        try:
            verdict = run.not_learned(evaluation, metric)
        except XstiltsError as exc:
            raise Untestable(str(exc)) from None
        if verdict:
            flagged[run.name] = verdict
    return flagged


def _measured(conditions: list[Condition], measure: Measure, plan: StudyPlan, finished: dict[str, RunResults],
              n_boot: int, seed: int, languages_filter=None) -> list[ConditionResult]:
    """Each condition measured on each of the measure's tasks (the runs that evaluate it) in
    the languages every run of every condition scored. Of a measure over several tasks, the
    tasks no run of any condition evaluates (not in this setup), or that none learned, are left
    out and named; a measure of one task that no run learned is untestable."""
    selected = [_condition_runs(c, plan, finished) for c in conditions]
    builders = [_Builder(c.describe(), missing) for c, (_, missing) in zip(conditions, selected)]
    evaluated = [t for t in measure.tasks if any(_evaluation(r, measure, t) for runs, _ in selected for r in runs)]
    left_out = tuple(t for t in measure.tasks if t not in evaluated)
    if len(measure.tasks) > 1 and not evaluated:
        raise Untestable(f"no finished run evaluates any of {', '.join(measure.tasks)}")
    tasks_not_learned: dict[str, str] = {}
    for task in evaluated if len(measure.tasks) > 1 else measure.tasks:
        per_condition = [[r for r in runs if _evaluation(r, measure, task)] for runs, _ in selected]
        for condition, runs in zip(conditions, per_condition):
            if not runs:
                raise Untestable(f"condition '{condition.describe()}': no finished run has an evaluation of task "
                                 f"'{task}'" + (f" in phase '{measure.phase}'" if measure.phase else ""))
        # A run selected by two conditions (a ranking's overlapping levels) is one run.
        task_runs = list({r.name: r for runs in per_condition for r in runs}.values())
        flagged = _not_learned(task_runs, measure, task)
        if len(flagged) == len(task_runs):
            shown = "; ".join(f"{name}: {verdict}" for name, verdict in list(flagged.items())[:2])
            tasks_not_learned[task] = shown + ("; ..." if len(flagged) > 2 else "")
            continue
        languages = _languages(measure, task, task_runs)
        if languages_filter is not None:
            languages = languages_filter(languages, per_condition)
        for builder, runs in zip(builders, per_condition):
            for lang in languages:
                def units_of(run: RunResults, lang=lang, task=task) -> Units:
                    evaluation, metric = _evaluation(run, measure, task)
                    try:
                        return run.units(evaluation, lang, metric)
                    except XstiltsError as exc:
                        raise Untestable(str(exc)) from None

                key = lang if len(measure.tasks) == 1 else f"{task}:{lang}"
                builder.add(key, task, runs, units_of, n_boot, seed)
            builder.not_learned.update({r.name: f"{task}: {flagged[r.name]}" for r in runs if r.name in flagged})
    if tasks_not_learned and not any(b.points for b in builders):
        raise Untestable("; ".join(f"no run learned {task} ({why})" for task, why in tasks_not_learned.items()))
    return [b.result(left_out, tasks_not_learned) for b in builders]


# ---------------------------------------------------------------- verdicts


def decide(replicates: np.ndarray, effect: float, expect: Expectation) -> tuple[str, float, tuple[float, float], str | None]:
    """(verdict, confidence, CI, too-small note) by the module's decision rule."""
    # Rounding noise (a slope of identical scores is 1e-15, not 0) must not decide a side.
    replicates, effect = np.round(replicates, 9), round(effect, 9)
    low, high = percentile_interval(replicates)
    if expect.direction == "none":
        t = expect.tolerance
        p = float(np.mean(np.abs(replicates) <= t))
        verdict = SUPPORTED if -t <= low and high <= t else CONTRADICTED if low > t or high < -t else INCONCLUSIVE
        deciding = t
    else:
        s = 1 if expect.direction == "increase" else -1
        consistent = s * replicates > 0
        if expect.size is not None:
            consistent &= np.abs(replicates - expect.size) <= expect.tolerance
        p = float(np.mean(consistent))
        on_side, other_side = min(s * low, s * high) > 0, max(s * low, s * high) < 0
        excludes_size = expect.size is not None and (low > expect.size + expect.tolerance
                                                      or high < expect.size - expect.tolerance)
        verdict = (CONTRADICTED if other_side or excludes_size else SUPPORTED if on_side else INCONCLUSIVE)
        deciding = abs(expect.size) if expect.size is not None else abs(effect)
    confidence = p if verdict == SUPPORTED else 1 - p if verdict == CONTRADICTED else 2 * min(p, 1 - p)
    return verdict, confidence, (low, high), _too_small(verdict, (high - low) / 2, deciding)


def _too_small(verdict: str, half_width: float, deciding: float) -> str | None:
    if verdict != INCONCLUSIVE or half_width <= deciding:
        return None
    if deciding < 1e-9:  # an observed effect of 0: no number of examples decides its direction
        return f"the data are too small to decide: the 95% CI is \u00b1{half_width:.2f} around an observed effect of 0"
    factor = (half_width / deciding) ** 2
    return (f"the data are too small to decide: the 95% CI is \u00b1{half_width:.2f}, wider than the {deciding:.2f} "
            f"that would decide; about {math.ceil(factor)}\u00d7 as many examples or seeds would be needed")


def _difference(claim, plan, finished, n_boot, seed) -> ClaimResult:
    a, b = _measured([claim.a, claim.b], claim.measure, plan, finished, n_boot, seed)
    (pa, ra), (pb, rb) = a.average(), b.average()
    verdict, confidence, ci, small = decide(ra - rb, pa - pb, claim.expect)
    return ClaimResult(claim, verdict, effect=pa - pb, ci=ci, confidence=confidence, too_small=small,
                       conditions=(a, b), languages=tuple(a.points),
                       what=f"{_measure_words(claim.measure, a)}: {a.label} minus {b.label}",
                       details={a.label: pa, b.label: pb})


def _ranking(claim, plan, finished, n_boot, seed) -> ClaimResult:
    measured = _measured(claim.order, claim.measure, plan, finished, n_boot, seed)
    averages = [m.average() for m in measured]
    gaps = [(averages[i][0] - averages[i + 1][0], averages[i][1] - averages[i + 1][1]) for i in range(len(measured) - 1)]
    increase = Expectation(direction="increase")
    verdicts = [decide(reps, point, increase)[0] for point, reps in gaps]
    verdict = (CONTRADICTED if CONTRADICTED in verdicts else SUPPORTED if all(v == SUPPORTED for v in verdicts)
               else INCONCLUSIVE)
    smallest = np.min(np.stack([reps for _, reps in gaps]), axis=0)
    p = float(np.mean(smallest > 0))
    confidence = p if verdict == SUPPORTED else 1 - p if verdict == CONTRADICTED else 2 * min(p, 1 - p)
    low, high = percentile_interval(smallest)
    effect = min(point for point, _ in gaps)
    small = _too_small(verdict, (high - low) / 2, abs(effect)) if verdict == INCONCLUSIVE else None
    return ClaimResult(claim, verdict, effect=effect, ci=(low, high), confidence=confidence, too_small=small,
                       conditions=tuple(measured), languages=tuple(measured[0].points),
                       what=f"{_measure_words(claim.measure, measured[0])}: smallest gap between neighbours in the "
                            f"order {' > '.join(m.label for m in measured)}",
                       details={m.label: avg[0] for m, avg in zip(measured, averages)})


def _with_distances(kind: str):
    def languages_filter(languages: list[str], per_condition: list[list[RunResults]]) -> list[str]:
        source = per_condition[0][0].evaluations[0].source_language
        known = distances_from(source, languages, [kind]).known(kind)
        kept = [lang for lang in languages if lang in known]
        if len(kept) < MIN_LANGUAGES_FOR_FIT or len({known[lang] for lang in kept}) < 2:
            raise Untestable(f"a slope needs {MIN_LANGUAGES_FOR_FIT} or more languages with distinct {kind} distances "
                             f"from {source} in URIEL; these runs have {len(kept)} ({', '.join(kept) or 'none'})")
        return kept
    return languages_filter


def _slope(result: ConditionResult, kind: str) -> tuple[float, np.ndarray, dict[str, float]]:
    langs = list(result.points)
    source = result.runs[0].evaluations[0].source_language
    x = distances_from(source, langs, [kind]).known(kind)
    xs = [x[lang] for lang in langs]
    slope, _ = ols_slope(xs, [result.points[lang] for lang in langs])
    replicates = ols_slopes(xs, np.column_stack([result.replicates[lang] for lang in langs]))
    return slope, replicates, x


def _slope_claim(claim, plan, finished, n_boot, seed) -> ClaimResult:
    (measured,) = _measured([claim.condition], claim.measure, plan, finished, n_boot, seed,
                            _with_distances(claim.distance))
    slope, replicates, distances = _slope(measured, claim.distance)
    verdict, confidence, ci, small = decide(replicates, slope, claim.expect)
    return ClaimResult(claim, verdict, effect=slope, ci=ci, unit="points per unit of distance", confidence=confidence,
                       too_small=small, conditions=(measured,), languages=tuple(measured.points), distances=distances,
                       what=f"OLS slope of {_measure_words(claim.measure, measured)} per language against "
                            f"{claim.distance} distance, {measured.label}")


def _slope_difference(claim, plan, finished, n_boot, seed) -> ClaimResult:
    a, b = _measured([claim.a, claim.b], claim.measure, plan, finished, n_boot, seed, _with_distances(claim.distance))
    slope_a, reps_a, distances = _slope(a, claim.distance)
    slope_b, reps_b, _ = _slope(b, claim.distance)
    verdict, confidence, ci, small = decide(reps_a - reps_b, slope_a - slope_b, claim.expect)
    return ClaimResult(claim, verdict, effect=slope_a - slope_b, ci=ci, unit="points per unit of distance",
                       confidence=confidence, too_small=small, conditions=(a, b), languages=tuple(a.points),
                       distances=distances,
                       what=f"slope of {_measure_words(claim.measure, a)} against {claim.distance} distance: "
                            f"{a.label} minus {b.label}",
                       details={f"slope {a.label}": slope_a, f"slope {b.label}": slope_b})


def _attack_of(run: RunResults, task: str) -> tuple[str, dict]:
    found = [(name, summary) for name, summary in run.attacks().items() if summary["task"] == task]
    if not found:
        raise Untestable(f"run {run.name} has no `xstilts attack` results for task '{task}' (runs/<run>/attack/)")
    return found[0]


def _clean_at_chance(summary: dict, languages: list[str]) -> str | None:
    """An attack's clean accuracy pooled over `languages` when its 95% interval reaches chance
    pooled the same way; None when it is above. Pooled: one language's 100 XCOPA items are too
    few to tell, their 1,100 are not."""
    checks = [PredictorCheck.from_dict(summary["languages"][lang]["clean_check"]) for lang in languages
              if "clean_check" in summary["languages"][lang]]
    if not checks:
        return None
    accuracy, low, high = pooled_accuracy([(c.accuracy, c.n) for c in checks])
    # Pooled chance: each language's chance (its most frequent label's share, or guessing) over its examples.
    chance = sum(c.chance * c.n for c in checks) / sum(c.n for c in checks)
    if low > chance:
        return None
    return (f"clean accuracy {100 * accuracy:.1f} [{100 * low:.1f}, {100 * high:.1f}] over {len(checks)} "
            f"language(s), chance {100 * chance:.1f}")


def _degradation(claim, plan, finished, n_boot, seed) -> ClaimResult:
    conditions = [c for c in (claim.a, claim.b) if c is not None]
    selected = [_condition_runs(c, plan, finished) for c in conditions]
    attacks = {r.name: _attack_of(r, claim.task) for runs, _ in selected for r in runs}
    languages = None
    for name, (_, summary) in attacks.items():
        for perturbation in claim.perturbations:
            if perturbation not in summary["perturbations"]:
                raise Untestable(f"run {name}: the attack on {claim.task} did not run perturbation '{perturbation}' "
                                 f"(it ran {', '.join(summary['perturbations'])})")
        ran = [lang for lang, result in summary["languages"].items()
               if all("skipped" not in result["perturbations"].get(p, {"skipped": ""}) for p in claim.perturbations)]
        languages = ran if languages is None else [lang for lang in languages if lang in ran]
    if claim.languages != "all":
        absent = [lang for lang in claim.languages if lang not in languages]
        if absent:
            raise Untestable(f"{claim.task}: no attack result in {', '.join(absent)} for every run and perturbation")
        languages = list(claim.languages)
    if not languages:
        raise Untestable(f"{claim.task}: no language where every run's attack ran every perturbation")

    def units_of(run: RunResults, lang: str) -> Units:
        # Each perturbation's examples are separate units: a resample draws perturbed examples.
        folder = attacks[run.name][0]
        rows = [(p, r) for p in claim.perturbations for r in run.attack_rows(folder, claim.task, p, lang)]
        values = np.array([[float(r["clean_prediction"] == r["label"]) - float(r["prediction"] == r["label"])]
                           for _, r in rows])
        return Units("accuracy", values, tuple(f"{p}/{r['id']}" for p, r in rows))

    # A model at chance on the clean examples has nothing to lose: its degradation is a floor.
    at_chance = {name: _clean_at_chance(summary, languages) for name, (_, summary) in attacks.items()}
    if all(at_chance.values()):
        name, why = next(iter(at_chance.items()))
        raise Untestable(f"no run learned {claim.task}: clean accuracy is at chance in every run ({name}: {why})")
    builders = [_Builder(c.describe(), missing) for c, (_, missing) in zip(conditions, selected)]
    for builder, (runs, _) in zip(builders, selected):
        for lang in languages:
            builder.add(lang, claim.task, runs, lambda run, lang=lang: units_of(run, lang), n_boot, seed)
        builder.not_learned.update({r.name: f"{claim.task}: {at_chance[r.name]}" for r in runs if at_chance[r.name]})
    measured = [b.result() for b in builders]
    (pa, ra) = measured[0].average()
    effect, replicates = pa, ra
    what = f"accuracy lost under {', '.join(claim.perturbations)} on {claim.task}, {measured[0].label}"
    details = {measured[0].label: pa}
    if len(measured) == 2:
        pb, rb = measured[1].average()
        effect, replicates = pa - pb, ra - rb
        what = (f"accuracy lost under {', '.join(claim.perturbations)} on {claim.task}: "
                f"{measured[0].label} minus {measured[1].label}")
        details[measured[1].label] = pb
    verdict, confidence, ci, small = decide(replicates, effect, claim.expect)
    return ClaimResult(claim, verdict, effect=effect, ci=ci, confidence=confidence, too_small=small,
                       conditions=tuple(measured), languages=tuple(languages), what=what, details=details)


def _measure_words(measure: Measure, result: ConditionResult) -> str:
    languages = ("zero-shot average" if measure.languages == "zero-shot" else
                 "average over all languages" if measure.languages == "all" else ", ".join(measure.languages))
    if len(measure.tasks) > 1:
        return f"mean over {', '.join(measure.tasks)} of each task's first metric ({languages})"
    task = measure.tasks[0]
    run = next(r for r in result.runs if r.evaluation(task, measure.phase))
    return f"{task} {measure.metric or run.evaluation(task, measure.phase).metrics[0]} ({languages})"


_CHECKS = {"difference": _difference, "ranking": _ranking, "slope": _slope_claim,
           "slope_difference": _slope_difference, "degradation": _degradation}

