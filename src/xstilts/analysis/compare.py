"""`xstilts compare RUN_DIR...`: zero-shot accuracy of runs that differ in one thing (typically
the intermediate-task curriculum), per language and on average, and each setting's difference
from the first one (the baseline) with a 95% confidence interval.

- One run per setting: a paired bootstrap over the examples both scored (matched by id). Both
  settings are resampled with the same items, per language; an average resamples every language.
- Several seeds per setting (runs whose configs differ only in seed and name): the difference of
  the mean over seeds with a t-interval, paired by seed when both settings have the same seeds
  (Welch's otherwise).

A difference is significant when its interval excludes 0. Accuracies and differences are in points.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table as RichTable
from scipy import stats

from xstilts.analysis.report_format import Section, Table, render_markdown
from xstilts.analysis.runs import RunGroup, RunResult, group_by_setting, load_run
from xstilts.analysis.stats import bootstrap_scores, percentile_interval
from xstilts.errors import XstiltsError
from xstilts.io import read_json, read_jsonl

AVERAGE = "average, all languages"  # the source language included; the zero-shot average leaves it out
ZERO_SHOT_AVERAGE = "zero-shot average"


@dataclass(frozen=True)
class Difference:
    value: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        return not self.ci_low <= 0 <= self.ci_high


@dataclass(frozen=True)
class Comparison:
    groups: list[RunGroup]
    rows: list[str]  # languages, then the two averages
    scores: dict[str, dict[str, float]]  # setting label -> row -> accuracy (mean over seeds)
    differences: dict[str, dict[str, Difference]]  # non-baseline label -> row -> minus the baseline
    method: str
    training_examples: dict[str, int | None]  # label -> examples of the training phases before the last

    @property
    def baseline(self) -> RunGroup:
        return self.groups[0]


def compare_runs(run_dirs: list[Path], phase: str | None = None, n_boot: int = 2000, seed: int = 0) -> Comparison:
    if len({Path(d).resolve() for d in run_dirs}) != len(run_dirs):
        raise XstiltsError("a run directory is given twice; give each run once")
    runs = [load_run(d, phase) for d in run_dirs]
    groups = group_by_setting(runs)
    if len(groups) < 2:
        raise XstiltsError("all runs share one setting (they differ at most in seed); give runs of at least "
                           "two settings, e.g. two curricula")
    tasks = {(r.task, r.split) for r in runs}
    if len(tasks) > 1:
        raise XstiltsError(f"the runs evaluate different tasks/splits ({', '.join(sorted(map(str, tasks)))}); "
                           "compare runs of one evaluation")
    source = runs[0].source_language
    languages = [lang for lang in runs[0].languages if all(lang in r.languages for r in runs)]
    if not languages:
        raise XstiltsError("the runs have no evaluated language in common")
    others = [lang for lang in languages if lang != source]
    rows = languages + [AVERAGE] + ([ZERO_SHOT_AVERAGE] if others else [])
    members = {AVERAGE: languages, ZERO_SHOT_AVERAGE: others}

    def row_score(run: RunResult, row: str) -> float:
        return 100 * float(np.mean([run.languages[lang].score for lang in members.get(row, [row])]))

    scores = {g.label: {row: float(np.mean([row_score(r, row) for r in g.runs])) for row in rows} for g in groups}
    by_seeds = all(len(g.runs) > 1 for g in groups)
    differences = {}
    for group in groups[1:]:
        if by_seeds:
            differences[group.label] = {row: _seed_difference([row_score(r, row) for r in groups[0].runs],
                                                              [row_score(r, row) for r in group.runs],
                                                              [r.seed for r in groups[0].runs],
                                                              [r.seed for r in group.runs]) for row in rows}
        else:
            replicates = _paired_replicates(groups[0], group, languages, n_boot, seed)
            differences[group.label] = {}
            for row in rows:
                diff = np.mean([replicates[lang] for lang in members.get(row, [row])], axis=0)
                differences[group.label][row] = Difference(scores[group.label][row] - scores[groups[0].label][row],
                                                           *percentile_interval(diff))
    method = ("t-interval across seeds" if by_seeds else
              f"paired bootstrap over examples ({n_boot} resamples, seed {seed})")
    return Comparison(groups, rows, scores, differences, method,
                      {g.label: _training_examples(g.first) for g in groups})


def _seed_difference(baseline: list[float], other: list[float], baseline_seeds: list[int],
                     other_seeds: list[int]) -> Difference:
    if sorted(baseline_seeds) == sorted(other_seeds):
        order = {s: i for i, s in enumerate(baseline_seeds)}
        pairs = sorted(zip(other_seeds, other), key=lambda p: order[p[0]])
        result = stats.ttest_rel([v for _, v in pairs], baseline)
    else:
        result = stats.ttest_ind(other, baseline, equal_var=False)
    value = float(np.mean(other) - np.mean(baseline))
    low, high = result.confidence_interval(0.95)
    if np.isnan(low):  # no spread across seeds (e.g. identical scores): the interval is the point
        return Difference(value, value, value)
    return Difference(value, float(low), float(high))


def _paired_replicates(first: RunGroup, second: RunGroup, languages: list[str], n_boot: int,
                       seed: int) -> dict[str, np.ndarray]:
    """Per language, bootstrap replicates (points) of second minus first over the items every
    run scored; both settings are resampled with the same items (the resampling is seeded by
    the items' gold labels)."""
    out = {}
    for lang in languages:
        ids = [_example_ids(run, lang) for run in (*first.runs, *second.runs)]
        scored_by_all = set(ids[0]).intersection(*ids[1:])
        shared = [i for i in ids[0] if i in scored_by_all]
        if not shared:
            raise XstiltsError(f"no {lang} example was scored by every run (different subsets?); "
                               "evaluate the runs on the same examples")

        def replicates(group: RunGroup, offset: int) -> np.ndarray:
            per_run = []
            for k, run in enumerate(group.runs):
                where = {i: n for n, i in enumerate(ids[offset + k])}
                rows = [where[i] for i in shared]
                result = run.languages[lang]
                labels = [result.labels[n] for n in rows]
                per_run.append(bootstrap_scores(result.correct[rows], labels, n_boot, seed))
            return 100 * np.mean(per_run, axis=0)

        out[lang] = replicates(second, len(first.runs)) - replicates(first, 0)
    return out


def _example_ids(run: RunResult, lang: str) -> list[str]:
    path = run.directory / run.phase / "predictions" / run.task / f"{run.split}-{lang}.jsonl"
    return [row.get("id") for row in read_jsonl(path)]


def _training_examples(run: RunResult) -> int | None:
    """Training examples of the run's phases before its last training phase (the intermediate
    training, whatever its curriculum), from metrics.json; None when it does not say."""
    phases = read_json(run.directory / "metrics.json")["phases"]
    trained = [p for p in phases.values() if p["kind"] == "train"]
    if not trained or any("examples_seen" not in p for p in trained):
        return None
    return sum(p["examples_seen"] for p in trained[:-1])


# ---------------------------------------------------------------- presentation


DEGENERATE_MARK = "\u2020"  # †: this setting's predictions in this language are one-class or at chance


def _cell(value: float, degenerate: bool = False) -> str:
    return f"{value:.1f}{' ' + DEGENERATE_MARK if degenerate else ''}"


def degenerate_languages(group: RunGroup) -> dict[str, str]:
    """Language -> what is wrong with the predictions of a setting (of any of its seeds there)."""
    found: dict[str, str] = {}
    for run in group.runs:
        for lang, verdict in run.degenerate().items():
            found.setdefault(lang, verdict if len(group.runs) == 1 else f"{run.name}: {verdict}")
    return found


def degenerate_notes(groups: list[RunGroup]) -> list[str]:
    """One warning per setting whose predictions are one-class or at chance in some language."""
    notes = []
    for group in groups:
        found = degenerate_languages(group)
        if found:
            listed = "; ".join(f"{lang} ({verdict})" for lang, verdict in found.items())
            notes.append(f"{DEGENERATE_MARK} Warning: {group.label} has not learned the task in {len(found)} of "
                         f"{len(group.first.languages)} languages: {listed}. Its scores there are not findings, "
                         "and differences from them are not effects.")
    return notes


def _difference_cell(d: Difference) -> str:
    return f"{d.value:+.1f} [{d.ci_low:+.1f}, {d.ci_high:+.1f}]{' *' if d.significant else ''}"


def short_labels(labels: list[str]) -> dict[str, str]:
    """Labels without the part every one starts with (up to a separator): order-study-proportional
    and order-study-temperature -> proportional, temperature."""
    prefix = os.path.commonprefix(labels)
    cut = max(prefix.rfind(sep) for sep in "-_.") + 1
    return {label: label[cut:] or label for label in labels}


def comparison_table(comparison: Comparison) -> Table:
    labels = [g.label for g in comparison.groups]
    short = short_labels(labels)
    baseline, others = labels[0], labels[1:]
    columns = ["language", *(short[label] for label in labels), *(f"Δ {short[label]}" for label in others)]
    flagged = {g.label: degenerate_languages(g) for g in comparison.groups}
    rows = [[row, *(_cell(comparison.scores[label][row], row in flagged[label]) for label in labels),
             *(_difference_cell(comparison.differences[label][row]) for label in others)]
            for row in comparison.rows]
    caption = (f"Zero-shot accuracy (%). Δ: minus {short[baseline]}, in points, with its 95% CI "
               f"({comparison.method}); * = the interval excludes 0.")
    if any(flagged.values()):
        caption += f" {DEGENERATE_MARK} = one-class or chance-level predictions (see the warning)."
    return Table(columns, rows, caption)


def budget_note(comparison: Comparison) -> str:
    examples = comparison.training_examples
    listed = ", ".join(f"{label} {n if n is not None else 'n/a'}" for label, n in examples.items())
    known = {n for n in examples.values() if n is not None}
    verdict = "equal" if len(known) == 1 and None not in examples.values() else "NOT equal" if len(known) > 1 else "unknown"
    return f"Intermediate training examples per run: {listed} ({verdict})."


def rich_table(comparison: Comparison):
    table = comparison_table(comparison)
    out = RichTable(title=f"xstilts compare: {comparison.baseline.first.task} {comparison.baseline.first.split}",
                    caption=table.caption)
    for i, column in enumerate(table.columns):
        out.add_column(column, justify="left" if i == 0 else "right", no_wrap=True)
    for row in table.rows:
        out.add_row(*row, style="bold" if row[0] in (AVERAGE, ZERO_SHOT_AVERAGE) else None)
    return out


def comparison_markdown(comparison: Comparison) -> str:
    settings = [f"{g.label}: {g.first.training}" for g in comparison.groups]
    section = Section(f"{comparison.groups[0].first.task} {comparison.groups[0].first.split}",
                      ["Settings: " + "; ".join(settings) + ".", budget_note(comparison),
                       *degenerate_notes(comparison.groups)],
                      [comparison_table(comparison)])
    return render_markdown("xstilts compare", [section], "figures")
