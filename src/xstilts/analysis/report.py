"""`xstilts report RUN_DIR... --out DIR`: one HTML page (plus markdown) on how zero-shot
transfer of the given runs depends on the typological distance from the training language.

    DIR/report.html      self-contained: tables, and figures inlined as PNG
    DIR/report.md        the same tables; figures linked from DIR/figures/
    DIR/figures/*.png

A report is a list of sections; `SECTION_BUILDERS` make them from the loaded runs: the runs, the
distance analysis per evaluated task, `xstilts compare`'s table, the intermediate x target grid,
and the degradation tables of `xstilts attack` results saved in the runs. Another analysis adds
its tables with a builder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xstilts.analysis.compare import (
    DEGENERATE_MARK,
    budget_note,
    compare_runs,
    comparison_table,
    degenerate_languages,
    degenerate_notes,
)
from xstilts.analysis.distance_fits import (
    MEASURES,
    Comparison,
    SettingAnalysis,
    analyse_setting,
    comparable_pairs,
    compare,
)
from xstilts.analysis.figures import GridCell, distance_scatter, grid_heatmap
from xstilts.analysis.report_format import Figure, Section, Table, render_html, render_markdown
from xstilts.analysis.runs import RunGroup, RunResult, group_by_setting, load_run
from xstilts.analysis.stats import bootstrap_scores, percentile_interval
from xstilts.console import console, progress_bar
from xstilts.errors import XstiltsError
from xstilts.io import read_json, write_bytes_atomic, write_text_atomic
from xstilts.languages import LANGUAGE_INFO
from xstilts.metrics.degenerate import CONSTANT_SHARE
from xstilts.robustness.report import label_changing, overview, per_perturbation
from xstilts.typology.distances import Distances, distances_from

_DISTANCE_MEANINGS = {
    "syntactic": "word order and other syntax features (WALS, SSWL, Ethnologue)",
    "genetic": "shared branches of the Glottolog family tree",
    "geographic": "where the language is spoken",
    "phonological": "sound-system features (WALS, Ethnologue)",
    "inventory": "phoneme inventories (PHOIBLE)",
    "featural": "all typological features above together",
}


@dataclass(frozen=True)
class ReportOptions:
    phase: str | None = None  # the evaluate phase to analyse; None: each run's last multilingual one
    n_boot: int = 1000  # bootstrap resamples of the test examples
    seed: int = 0  # seeds the bootstrap and the permutation tests


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.{digits}f}".replace("-", "\u2212")


def _with_ci(value: float, low: float, high: float) -> str:
    return f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


def _p(value: float) -> str:
    return "n/a" if np.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _language_name(lang: str) -> str:
    info = LANGUAGE_INFO.get(lang)
    if info is None:
        return lang
    return f"{info.name} ({info.branch})" if info.branch else info.name


def _by_family(languages: list[str], source: str) -> list[tuple[str, list[str]]]:
    """Languages grouped by family: the source's family (and the source) first, then by name."""
    families: dict[str, list[str]] = {}
    for lang in languages:
        families.setdefault(LANGUAGE_INFO[lang].family if lang in LANGUAGE_INFO else "unknown family", []).append(lang)
    source_family = LANGUAGE_INFO[source].family if source in LANGUAGE_INFO else ""
    order = sorted(families, key=lambda f: (f != source_family, f))
    return [(f, sorted(families[f], key=lambda lang: (lang != source, _language_name(lang)))) for f in order]


def _grouped_rows(languages: list[str], source: str, row: Callable[[str], list[str]]) -> list[list[str]]:
    rows: list[list[str]] = []
    for family, members in _by_family(languages, source):
        rows.append([family])
        rows += [row(lang) for lang in members]
    return rows


def _reading_guide(n_boot: int) -> Section:
    kinds = "; ".join(f"{kind}: {meaning}" for kind, meaning in _DISTANCE_MEANINGS.items())
    return Section("How to read this report", [
        "Distances come from URIEL (through the urielplus package): the angular distance between two "
        "languages' feature vectors, from 0 (identical) to 1 (nothing shared). Kinds: " + kinds + ".",
        "Accuracy is zero-shot accuracy in percent. The transfer gap of a language is the accuracy in "
        "the training (source) language minus its accuracy, in points: larger means more is lost in transfer.",
        "A slope is the least-squares (OLS) slope of accuracy or gap against a distance, in points per "
        "unit of distance: an accuracy slope of \u221220 means 2 points less accuracy for every 0.1 of "
        "distance. The accuracy slope is the run's robustness slope: closer to 0 is more robust. "
        f"95% CI: percentile interval over {n_boot} bootstrap resamples of the test examples (the same "
        "items are resampled in every language and run scored on the same items, so differences are "
        "paired). \u03c1: Spearman rank correlation; p: two-sided permutation test (exact for 7 or fewer "
        "languages, else 9,999 random permutations).",
        "Runs that differ only in their seed form one setting: its accuracy is the mean over seeds.",
    ])


def overview_sections(runs: list[RunResult], options: ReportOptions) -> list[Section]:
    return [_runs_overview(runs), _reading_guide(options.n_boot)]


def _runs_overview(runs: list[RunResult]) -> Section:
    rows = [[run.name, run.model, run.training, str(run.seed), f"{run.task} {run.split} ({run.phase})",
             str(len(run.languages)), _fmt(100 * run.zero_shot_average()),
             ", ".join(run.degenerate()) or "none"] for run in runs]
    return Section("Runs", degenerate_notes([RunGroup(run.name, (run,)) for run in runs]), [Table(
        ["run", "model", "training (English)", "seed", "evaluation (phase)", "languages", "zero-shot average (%)",
         "not learned in"],
        rows, "Training lists the train phases in order; the last one trains the evaluated task. "
              "Zero-shot average: mean accuracy over every language but the source. Not learned in: languages "
              f"where the run predicts one class for {100 * CONSTANT_SHARE:.0f}% or more of the examples, or its "
              "accuracy's 95% Wilson interval reaches chance.")])


def _by_evaluation(runs: list[RunResult]) -> list[list[RunResult]]:
    """Runs grouped by the task and split they were evaluated on."""
    tasks: dict[tuple[str, str], list[RunResult]] = {}
    for run in runs:
        tasks.setdefault((run.task, run.split), []).append(run)
    return list(tasks.values())


def typology_sections(runs: list[RunResult], options: ReportOptions) -> list[Section]:
    """The distance analysis, once per evaluated task and split."""
    return [s for task_runs in _by_evaluation(runs) for s in _task_sections(task_runs, options)]


def comparison_sections(runs: list[RunResult], options: ReportOptions) -> list[Section]:
    """`xstilts compare`'s table (the curriculum comparison) for each evaluation with two or more
    settings: accuracy per language and each setting's difference from the first one."""
    sections = []
    for task_runs in _by_evaluation(runs):
        if len(group_by_setting(task_runs)) < 2:
            continue
        comparison = compare_runs([r.directory for r in task_runs], options.phase, options.n_boot, options.seed)
        sections.append(Section(
            f"{task_runs[0].task} {task_runs[0].split}: accuracy differences from {comparison.baseline.label}",
            [budget_note(comparison), *degenerate_notes(comparison.groups)], [comparison_table(comparison)]))
    return sections


def _task_sections(runs: list[RunResult], options: ReportOptions) -> list[Section]:
    task, split, source = runs[0].task, runs[0].split, runs[0].source_language
    other_sources = sorted({r.source_language for r in runs} - {source})
    if other_sources:
        raise XstiltsError(f"runs evaluating {task} {split} were trained in different languages "
                           f"({source}, {', '.join(other_sources)}); report them separately")
    languages = [lang for lang in runs[0].languages if all(lang in r.languages for r in runs)]
    notes = []
    dropped = sorted({lang for r in runs for lang in r.languages} - set(languages))
    if dropped:
        notes.append(f"Not scored by every run, so left out: {', '.join(dropped)}.")
    distances = distances_from(source, languages)
    notes += [line[0].upper() + line[1:] + "." for kind in distances.kinds if (line := distances.describe_missing(kind))]
    for note in notes:
        console.print(f"[yellow]{note}")

    groups = group_by_setting(runs)
    with progress_bar() as bar:
        steps = bar.add_task(f"analyse {task}", total=len(groups) + len(distances.kinds), status="")
        settings = []
        for group in groups:
            bar.update(steps, status=group.label)
            settings.append(analyse_setting(group, languages, distances, options.n_boot, options.seed))
            bar.update(steps, advance=1)
        figures = []
        for kind in distances.kinds:
            bar.update(steps, status=f"figure {kind}")
            figures.append(Figure(f"{task}-{split}-{kind}.png", distance_scatter(kind, settings, distances),
                                  f"{task} {split}: accuracy (left, from chance to 100) and transfer gap (right) "
                                  f"against {kind} distance from {source}, one colour per setting; bars are 95% "
                                  f"bootstrap CIs. Lines: the OLS fit with {source} (solid) and without it "
                                  f"(dashed; {source} alone sits at distance about 0 and dominates a fit), slopes in "
                                  "the legend; dotted: chance."))
            bar.update(steps, advance=1)
    analysis_of = {id(group): setting for group, setting in zip(groups, settings)}
    comparisons = [compare(analysis_of[id(a)], analysis_of[id(b)], differs, distances)
                   for a, b, differs in comparable_pairs(groups)]

    title = f"{task} {split}"
    sections = [
        Section(f"{title}: languages and their distance from {source}", notes,
                [_distance_table(languages, source, distances)]),
        Section(f"{title}: accuracy and transfer gap per language", tables=[_score_table(languages, settings)]),
        Section(f"{title}: robustness slopes", [_chance_warning(s) for s in settings if s.source_at_chance()],
                [_slope_table(settings, distances)], figures),
    ]
    if comparisons:
        sections.append(Section(f"{title}: comparisons", [
            "Each comparison is the second setting minus the first (in the order the runs were given). "
            "A positive accuracy-slope difference means accuracy falls less with distance in the second setting; "
            "a CI that excludes 0 is a difference the test-set size resolves."],
            [_comparison_table(comparisons)]))
    return sections


def _chance_warning(setting: SettingAnalysis) -> str:
    low, high = setting.source_interval()
    chance = 100 * setting.group.first.languages[setting.source].chance
    return (f"Warning: {setting.label} is at chance level. Its {setting.source} accuracy, "
            f"{_with_ci(setting.scores[setting.source], low, high)}%, does not differ from guessing "
            f"({_fmt(chance)}%): the model has not learned the task, so its slopes measure a floor, not robustness.")


def _distance_table(languages: list[str], source: str, distances: Distances) -> Table:
    def row(lang: str) -> list[str]:
        info = LANGUAGE_INFO.get(lang)
        return [lang, _language_name(lang), info.script if info else "?", info.iso639_3 if info else "?",
                *(_fmt(distances.values[lang][kind], 3) for kind in distances.kinds)]

    return Table(["code", "language (branch)", "script", "ISO 639-3", *distances.kinds],
                 _grouped_rows(languages, source, row),
                 f"URIEL distances from {source} (0 = identical, 1 = nothing shared); n/a: URIEL has no data "
                 "for the pair, so the language is left out of fits on that distance.")


def _score_table(languages: list[str], settings: list[SettingAnalysis]) -> Table:
    source = settings[0].source
    columns = ["language"]
    for s in settings:
        columns += [f"{s.label}: accuracy (%)", "gap (points)"]

    flagged = {s.label: degenerate_languages(s.group) for s in settings}

    def row(lang: str) -> list[str]:
        cells = [f"{lang} {_language_name(lang)}"]
        for s in settings:
            mark = f" {DEGENERATE_MARK}" if lang in flagged[s.label] else ""
            cells += [_fmt(s.scores[lang]) + mark, "source" if lang == source else _fmt(s.gaps()[lang])]
        return cells

    rows = _grouped_rows(languages, source, row)
    rows.append([f"Average over the {len(languages) - 1} languages other than {source}"])
    rows.append(["zero-shot average"] + [c for s in settings
                                         for c in (_fmt(s.zero_shot_average()),
                                                   _fmt(s.scores[source] - s.zero_shot_average()))])
    caption = f"Gap: accuracy in {source} minus accuracy in the language, in points. Languages are grouped by family."
    if any(flagged.values()):
        caption += f" {DEGENERATE_MARK}: one-class or chance-level predictions (see the warnings under Runs)."
    return Table(columns, rows, caption)


def _slope_table(settings: list[SettingAnalysis], distances: Distances) -> Table:
    rows = []
    for kind in distances.kinds:
        fitted = [s for s in settings if (kind, "score") in s.fits]
        if not fitted:
            rows.append([f"{kind} distance: fewer than 3 languages with URIEL data (or all at one distance), no fit"])
            continue
        n = len(fitted[0].fits[kind, "score"].languages)
        rows.append([f"{kind} distance ({n} languages)"])
        for s in fitted:
            cells = [s.label]
            for measure in MEASURES:
                fit = s.fits.get((kind, measure))
                cells += [_with_ci(fit.slope, fit.ci_low, fit.ci_high), _fmt(fit.rho, 2), _p(fit.p_value)] if fit \
                    else ["n/a"] * 3
            rows.append(cells)
    return Table(["setting", "accuracy slope [95% CI]", "\u03c1 (accuracy)", "p", "gap slope [95% CI]", "\u03c1 (gap)",
                  "p"], rows,
                 "Slopes in points per unit of distance; the accuracy slope is the setting's robustness slope. "
                 "Accuracy fits include the source language (distance about 0), which dominates them; gap fits use "
                 "the other languages, so the gap slope is minus the accuracy slope without the source language.")


def _comparison_table(comparisons: list[Comparison]) -> Table:
    with_seeds = any(c.interactions for c in comparisons)
    columns = ["distance", "accuracy slope difference [95% CI]", "gap slope difference [95% CI]"]
    if with_seeds:
        columns.append("interaction over seeds [95% CI] (p)")
    rows = []
    for c in comparisons:
        avg = c.zero_shot_average
        rows.append([f"{c.second.label} minus {c.first.label} \u2014 {c.differs}; zero-shot average "
                     f"{_with_ci(avg.value, avg.ci_low, avg.ci_high)} points"])
        for kind in dict.fromkeys(k for k, _ in c.slopes):
            cells = [kind]
            for measure in MEASURES:
                d = c.slopes.get((kind, measure))
                cells.append(_with_ci(d.value, d.ci_low, d.ci_high) if d else "n/a")
            if with_seeds:
                fit = c.interactions.get(kind)
                cells.append(f"{_with_ci(fit.slope_difference, fit.ci_low, fit.ci_high)} ({_p(fit.p_value)})"
                             if fit else "n/a")
            rows.append(cells)
    caption = "Slope differences in points per unit of distance, second setting minus first."
    if with_seeds:
        caption += (" Interaction: the distance \u00d7 setting coefficient of an OLS fit of accuracy ~ distance "
                    "* setting over every seed and language, standard errors clustered by language.")
    return Table(columns, rows, caption)


def grid_sections(runs: list[RunResult], options: ReportOptions) -> list[Section]:
    """Intermediate task x target task heatmaps (one per model) when the runs form such a grid."""
    cells: dict[str, dict[tuple[str, str], list[RunResult]]] = {}
    for run in runs:
        cells.setdefault(run.model, {}).setdefault((run.intermediate, run.task), []).append(run)
    grids = {model: _grid_cells(model_cells, options) for model, model_cells in cells.items() if len(model_cells) > 1}
    if not grids:
        return []
    return [Section("Intermediate task \u00d7 target task", figures=[Figure(
        "intermediate-x-target.png", grid_heatmap(grids),
        "Zero-shot average accuracy (%, mean over seeds) with its 95% CI per intermediate task (rows; none = no "
        "intermediate phase) and target task (columns), one panel per model; \u0394: the difference from the "
        "column's run without intermediate training, with its paired 95% CI. The colour is the CI bound of \u0394 "
        "nearest 0, so a difference the test sets cannot resolve stays white.")])]


def _grid_cells(cells: dict[tuple[str, str], list[RunResult]], options: ReportOptions) -> dict[tuple[str, str], GridCell]:
    """Each cell's zero-shot average with a bootstrap CI, and its paired difference from the
    cell without intermediate training in its column (over the languages the column shares)."""
    out = {}
    for (intermediate, task), members in cells.items():
        column = [run for (_, t), col_runs in cells.items() if t == task for run in col_runs]
        source = members[0].source_language
        languages = [lang for lang in members[0].languages
                     if lang != source and all(lang in r.languages for r in column)]

        def replicates(group: list[RunResult]) -> np.ndarray:
            return 100 * np.mean([np.mean([bootstrap_scores(r.languages[lang].correct, r.languages[lang].labels,
                                                            options.n_boot, options.seed) for lang in languages], axis=0)
                                  for r in group], axis=0)

        own = replicates(members)
        accuracy = 100 * float(np.mean([np.mean([r.languages[lang].score for lang in languages]) for r in members]))
        baseline = cells.get(("none", task))
        difference = None
        if baseline is not None and intermediate != "none":
            base_accuracy = 100 * float(np.mean([np.mean([r.languages[lang].score for lang in languages])
                                                 for r in baseline]))
            difference = (accuracy - base_accuracy, *percentile_interval(own - replicates(baseline)))
        out[intermediate, task] = GridCell(accuracy, *percentile_interval(own), difference)
    return out


def robustness_sections(runs: list[RunResult], options: ReportOptions) -> list[Section]:
    """The degradation tables of every `xstilts attack` saved in the runs (RUN_DIR/attack/*/)."""
    sections = []
    for run in runs:
        for results in sorted(run.directory.glob("attack/*/results.json")):
            summary = read_json(results, "an attack's results.json (rerun `xstilts attack` to write it)")
            tables = [Table(header, rows, title) for title, header, rows in
                      (overview(summary), per_perturbation(summary), label_changing(summary)) if rows]
            sections.append(Section(
                f"Robustness of {run.name}: {summary['task']} {summary['split']} ({results.parent.name})",
                ["Accuracy on clean and perturbed examples, in percent; degradation = clean minus perturbed, "
                 "in points (from xstilts attack)."], tables))
    return sections


SECTION_BUILDERS: tuple[Callable[[list[RunResult], ReportOptions], list[Section]], ...] = (
    overview_sections,
    typology_sections,
    comparison_sections,
    grid_sections,
    robustness_sections,
)


def build_report(run_dirs: list[Path], out_dir: Path, options: ReportOptions = ReportOptions()) -> Path:
    """Load the runs, analyse them, write DIR/report.html, DIR/report.md and DIR/figures/."""
    if len({Path(d).resolve() for d in run_dirs}) != len(run_dirs):
        raise XstiltsError("a run directory is given twice; give each run once")
    runs = [load_run(d, options.phase) for d in run_dirs]
    sections = [s for build in SECTION_BUILDERS for s in build(runs, options)]
    title = f"xstilts report: zero-shot transfer and typological distance ({len(runs)} run{'s' * (len(runs) > 1)})"
    out_dir = Path(out_dir)
    for figure in (f for s in sections for f in s.figures):
        write_bytes_atomic(out_dir / "figures" / figure.file_name, figure.png)
    write_text_atomic(out_dir / "report.md", render_markdown(title, sections, "figures"))
    write_text_atomic(out_dir / "report.html", render_html(title, sections))
    return out_dir / "report.html"
