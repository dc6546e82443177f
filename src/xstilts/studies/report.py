"""The study report: `xstilts study verify STUDY --out DIR` writes DIR/report.html (self-contained),
DIR/report.md (+ DIR/figures/) and DIR/verdicts.json.

Every number in it is computed: effects, intervals and confidences from the verification,
scores from the runs' metrics.json, sizes, budgets and seeds from the resolved configs and the
prediction files. The abstract, methodology and limitations are templates filled from those.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from xstilts.analysis.figures import effects_figure, slope_figure
from xstilts.analysis.report_format import Figure, Section, Table, render_html, render_markdown
from xstilts.analysis.stats import ols_slope
from xstilts.io import write_bytes_atomic, write_json_atomic, write_text_atomic
from xstilts.provenance import command_line, machine, now, source_commit
from xstilts.studies.plan import StudyRun
from xstilts.studies.verify import UNTESTABLE, ClaimResult, Verification
from xstilts.training.pipeline import resolved_config

VERDICT_ORDER = ("supported", "contradicted", "inconclusive", UNTESTABLE)


def effect_text(result: ClaimResult) -> str:
    if result.effect is None:
        return "n/a"
    return f"{result.effect:+.2f} [{result.ci[0]:+.2f}, {result.ci[1]:+.2f}]"


def _confidence(result: ClaimResult) -> str:
    return "n/a" if result.confidence is None else f"{result.confidence:.2f}"


def _source(result: ClaimResult) -> str:
    source = result.claim.source
    return f"{source.reference}{', ' + source.where if source.where else ''}"


def expected_text(claim) -> str:
    """What the claim expects, as its study file says it."""
    if claim.type == "ranking":
        return "this order"
    expect = claim.expect
    if expect.direction == "none":
        return f"none (within \u00b1{expect.tolerance:g})"
    return expect.direction + (f" of {expect.size:+g} \u00b1 {expect.tolerance:g}" if expect.size is not None else "")


def floor_runs(result: ClaimResult) -> str:
    """'k of n runs' of the claim's conditions that did not learn what it measures, or ''."""
    runs = {run.name for c in result.conditions for run in c.runs}
    floors = {name for c in result.conditions for name in c.not_learned}
    return f"{len(floors)} of {len(runs)} runs" if floors else ""


def claims_table(verification: Verification) -> Table:
    rows = [[r.claim.id, r.claim.statement, expected_text(r.claim), r.verdict, effect_text(r),
             r.unit if r.effect is not None else "", _confidence(r), floor_runs(r), _source(r)]
            for r in verification.results]
    return Table(["claim", "statement", "expected", "verdict", "effect [95% CI]", "unit", "confidence", "did not learn",
                  "source"], rows,
                 "Effect: the claim's measured quantity (see each claim below) with its 95% bootstrap CI. Confidence: "
                 "the bootstrap share of replicates consistent with the verdict (see Methodology). Did not learn: runs "
                 "whose values are a floor (one class or chance in English, or a score of 0; see each claim).")


def _abstract(verification: Verification) -> str:
    plan = verification.plan
    counts = Counter(r.verdict for r in verification.results)
    tally = ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if counts[v])
    models = sorted({run.config.model for run in plan.unique_runs})
    text = (f"We tested {len(verification.results)} claims on {len(verification.finished)} finished runs "
            f"(setup {plan.setup_name}; {', '.join(models)}): {tally}.")
    sentences = []
    for r in verification.results:
        if r.effect is None:
            sentences.append(f"{r.claim.statement}: untestable here ({r.reason}).")
        else:
            floors = floor_runs(r)
            sentences.append(f"{r.claim.statement}: {r.verdict} (effect {effect_text(r)} {r.unit}, "
                             f"confidence {_confidence(r)}" + (f"; {floors} did not learn the task" if floors else "")
                             + ").")
    return " ".join([text, *sentences])


def _phase_text(phase: dict) -> str:
    kind = phase.get("kind", "train")
    if kind == "evaluate":
        size = f", {phase['max_examples']} examples per language" if phase.get("max_examples") else ", every example"
        return f"evaluate {phase['task']} {phase.get('split', 'dev')}{size}"
    if kind == "fuse":
        return f"fuse the LoRA adapters of {', '.join(phase['stages'])} (weights {phase['weights']})"
    tasks = phase.get("task") or "+".join(t["task"] for t in phase.get("tasks", [])) or "masked LM"
    length = (f"budget {phase['budget']} examples" if phase.get("budget") else f"{phase.get('epochs') or 1} epoch(s)")
    pool = f", pool {phase['max_examples']}" if phase.get("max_examples") else ""
    return f"{kind} {tasks} ({length}{pool}, lr {phase.get('lr')}, batch {phase.get('batch_size')})"


def _run_rows(verification: Verification) -> list[list[str]]:
    rows = []
    for run in verification.plan.runs:
        config = resolved_config(run.config)
        status = ("finished" if run.run_dir.name in verification.finished else "not run") if run.same_as is None \
            else f"same config as {run.same_as}"
        rows.append([run.name, ", ".join(f"{a}={v}" for a, v in run.levels.items()), config["model"],
                     str(config["seed"]), "; ".join(_phase_text(p) for p in config["phases"]), status])
    return rows


def _methodology(verification: Verification) -> Section:
    plan = verification.plan
    runs: list[StudyRun] = plan.unique_runs
    seeds = sorted({r.config.seed for r in runs})
    # The data folder by its name only: where it sits is this machine's business, not the report's.
    data = sorted({f"local files in a folder named {r.config.data.dir.name}" if r.config.data.dir
                   else f"source {r.config.data.source}" for r in runs})
    paragraphs = [
        f"Setup {plan.setup_name}: {plan.setup.description}".rstrip(": "),
        f"{len(plan.runs)} planned runs ({len(runs)} distinct configs); models: "
        f"{', '.join(sorted({r.config.model for r in runs}))}; seeds: {', '.join(map(str, seeds))}; data: {', '.join(data)}.",
        "Each run trains its phases in order, each starting from the previous phase's model, and scores the "
        "last trained model zero-shot in every language of its evaluation; its phases, budgets and subset "
        "sizes are listed in the table.",
        f"Effects are measured on per-example prediction rows: {verification.n_boot} bootstrap replicates "
        f"(seed {verification.seed}) resample the examples of each run (questions for QA, sentences for "
        "tagging, with span F1 recomputed from summed chunk counts, queries for retrieval), paired across "
        "runs and languages scored on the same examples, and the runs of a condition when it has several "
        "seeds. The 95% CI is the percentile interval.",
        "Decision rule: supported when the CI lies on the expected side of 0 and, with an expected size e "
        "\u00b1 t, overlaps [e \u2212 t, e + t]; contradicted when it lies on the other side or excludes that "
        "range; inconclusive otherwise. A claim of no effect (\u00b1 t) is supported when the CI lies inside "
        "[\u2212t, t] and contradicted when it lies outside. A ranking is supported when every neighbouring "
        "pair's difference is supported. Confidence: the share p of replicates consistent with the claim for "
        "supported, 1 \u2212 p for contradicted, 2\u00b7min(p, 1 \u2212 p) for inconclusive.",
    ]
    table = Table(["run", "grid levels", "model", "seed", "phases", "status"], _run_rows(verification),
                  "The runs of the setup, from their resolved configs.")
    return Section("Methodology", paragraphs, [table])


def _claim_sections(verification: Verification) -> list[Section]:
    sections = []
    for r in verification.results:
        paragraphs = [f"Claim: {r.claim.statement} (source: {_source(r)}; expected: {expected_text(r.claim)}). "
                      f"Verdict: {r.verdict}."]
        if r.effect is None:
            paragraphs.append(f"Untestable here: {r.reason}.")
            sections.append(Section(f"Claim {r.claim.id}", paragraphs))
            continue
        paragraphs.append(f"Measured: {r.what}: {effect_text(r)} {r.unit}; confidence {_confidence(r)}.")
        if r.conditions[0].tasks_left_out:
            paragraphs.append(f"Not evaluated in this setup, so left out of the average: "
                              f"{', '.join(r.conditions[0].tasks_left_out)}.")
        if r.conditions[0].tasks_not_learned:
            paragraphs.append("Left out of the average because no run learned them (a floor against a floor): "
                              + "; ".join(f"{task} ({why})" for task, why in r.conditions[0].tasks_not_learned.items())
                              + ".")
        if r.too_small:
            paragraphs.append(r.too_small[0].upper() + r.too_small[1:] + ".")
        for c in r.conditions:
            paragraphs.append(f"{c.label}: {len(c.runs)} run(s) ({', '.join(run.name for run in c.runs)}), seeds "
                              f"{', '.join(map(str, c.seeds))}; {c.units} resampled per language: "
                              f"{min(c.unit_counts.values())} to {max(c.unit_counts.values())}."
                              + (f" Not finished: {', '.join(c.missing_runs)}." if c.missing_runs else "")
                              + (" Did not learn (its values here are a floor): " + "; ".join(
                                  f"{name}: {why}" for name, why in c.not_learned.items()) + "." if c.not_learned else ""))
        rows = [[key, *(f"{c.points[key]:.1f}" for c in r.conditions)] for key in r.languages]
        rows.append(["average", *(f"{c.average()[0]:.1f}" for c in r.conditions)])
        table = Table(["language", *(c.label for c in r.conditions)], rows,
                      "The condition's value per language (task:language over several tasks), in points, mean over its "
                      "runs; the average is over languages (over several tasks: the mean of the tasks' averages).")
        sections.append(Section(f"Claim {r.claim.id}", paragraphs, [table], _slope_figures(r)))
    return sections


def _slope_figures(result: ClaimResult) -> list[Figure]:
    """For slope claims: each condition's value per language against the language's distance."""
    if not result.distances:
        return []
    series = {}
    for c in result.conditions:
        points = {lang: (result.distances[lang], c.points[lang]) for lang in result.languages}
        slope, intercept = ols_slope([x for x, _ in points.values()], [y for _, y in points.values()])
        series[c.label] = (points, slope, intercept)
    source = result.conditions[0].runs[0].evaluations[0].source_language
    return [Figure(f"{result.claim.id}.png", slope_figure(result.claim.distance, source, series),
                   f"Claim {result.claim.id}: the value per language against its {result.claim.distance} distance from "
                   f"{source}, with each condition's OLS line (its slope in the legend, points per unit of distance).")]


def _results_tables(verification: Verification) -> list[Table]:
    """Per evaluated task, every finished run's headline metric per language, from metrics.json."""
    by_task: dict[tuple[str, str, str], list] = {}
    for run in verification.finished.values():
        for evaluation in run.evaluations:
            by_task.setdefault((evaluation.task, evaluation.split, evaluation.metrics[0]), []).append((run, evaluation))
    tables = []
    for (task, split, metric), entries in by_task.items():
        languages = list(dict.fromkeys(lang for _, e in entries for lang in e.languages))
        rows = []
        for run, evaluation in entries:
            cells = [f"{100 * evaluation.scores[lang][metric]:.1f}" if lang in evaluation.scores else "n/a"
                     for lang in languages]
            others = [evaluation.scores[lang][metric] for lang in evaluation.zero_shot_languages()]
            rows.append([run.name, *cells, f"{100 * sum(others) / len(others):.1f}" if others else "n/a"])
        tables.append(Table(["run", *languages, "zero-shot average"], rows,
                            f"{task} {split}: {metric} (%) per language, as each run's metrics.json has it."))
    return tables


def _other_models(verification: Verification) -> list[str]:
    """One line per other setup whose grid names other models than this setup's runs use."""
    plan = verification.plan
    used = {run.config.model for run in plan.unique_runs}
    lines = []
    for name, setup in plan.study.setups.items():
        if name == plan.setup_name or setup.grid is None or not isinstance(setup.grid.base, dict):
            continue
        models = {setup.grid.base.get("model")} | {changes.get("model") for levels in setup.grid.axes.values()
                                                   if isinstance(levels, dict) for changes in levels.values()}
        models = sorted(m for m in models if m and m not in used)
        if models:
            lines.append(f"Models: this setup's runs use {', '.join(sorted(used))}; setup {name} uses "
                         f"{', '.join(models)} (results on one need not hold on the other).")
    return lines


def _limitations(verification: Verification) -> Section:
    plan = verification.plan
    lines = [*_other_models(verification), *plan.setup.notes]
    runs = plan.unique_runs
    missing = [r.name for r in runs if r.run_dir.name not in verification.finished]
    if missing:
        lines.append(f"{len(missing)} of {len(runs)} runs have not finished and are left out: {', '.join(missing)}.")
    single = dict.fromkeys(c.label for r in verification.results for c in r.conditions if len(c.runs) == 1)
    if single:
        lines.append(f"Conditions with a single run (seed): {'; '.join(single)}. Their CIs cover the sampling of "
                     "test examples only, not training variance.")
    subsets = sorted({(p["task"], p["max_examples"]) for r in runs for p in resolved_config(r.config)["phases"]
                      if p.get("kind") == "evaluate" and p.get("max_examples")})
    if subsets:
        lines.append("Evaluations on subsets: " + "; ".join(f"{task}: {n} examples per language" for task, n in subsets)
                     + ".")
    pools = sorted({(p.get("task") or "+".join(t["task"] for t in p.get("tasks", [])) or "masked LM",
                     p.get("max_examples") or p.get("budget"))
                    for r in runs for p in resolved_config(r.config)["phases"]
                    if p.get("kind") != "evaluate" and (p.get("max_examples") or p.get("budget"))})
    if pools:
        lines.append("Training on subsets or budgets: " + "; ".join(f"{task}: {n} examples" for task, n in pools) + ".")
    untestable = [r for r in verification.results if r.effect is None]
    if untestable:
        lines.append("Untestable here: " + "; ".join(f"{r.claim.id} ({r.reason})" for r in untestable) + ".")
    floors = dict.fromkeys(f"{name} ({why})" for r in verification.results for c in r.conditions
                           for name, why in c.not_learned.items())
    floors.update(dict.fromkeys(f"{task} in every run" for r in verification.results if r.conditions
                                for task in r.conditions[0].tasks_not_learned))
    if floors:
        lines.append("Not learned, so measured at a floor or left out: " + "; ".join(floors) + ".")
    small = [r.claim.id for r in verification.results if r.too_small]
    if small:
        lines.append(f"Too small to decide: {', '.join(small)} (see each claim).")
    return Section("Limitations", lines)


def provenance(verification: Verification) -> dict:
    """What made the report and its runs: this command, code and machine, now; each finished run's
    code commit, start and end (from its metrics.json)."""
    runs = []
    for run in verification.plan.unique_runs:
        if run.run_dir.name in verification.finished:
            made = verification.finished[run.run_dir.name].provenance
            runs.append({"run": run.name, "commit": made.get("commit"), "started": made.get("started"),
                         "finished": made.get("finished"), "machine": made.get("machine")})
    return {"command": command_line(), "commit": source_commit(), "machine": machine(), "date": now(), "runs": runs}


def _provenance_section(made: dict) -> Section:
    box = made["machine"]
    runs = made["runs"]
    commits = Counter(r["commit"] or "unknown" for r in runs)
    started = [r["started"] for r in runs if r["started"]]
    finished = [r["finished"] for r in runs if r["finished"]]
    lines = [f"Report: `{made['command']}` at commit {made['commit'] or 'unknown (not a git checkout)'}, "
             f"{made['date']}, on {box['cpu']} ({box['cores']} cores, OMP_NUM_THREADS={box['omp_num_threads']}, "
             f"{box['system']}, Python {box['python']})."]
    if runs:
        lines.append(f"Runs: {len(runs)} finished, made at commit(s) "
                     + ", ".join(f"{c} ({n} run{'s' * (n > 1)})" for c, n in commits.most_common())
                     + (f", between {min(started)} and {max(finished)}" if started and finished else "")
                     + "; each run's own record is in its metrics.json (provenance).")
    lines.append("Rerun the same command on the same runs to regenerate every number here.")
    return Section("Provenance", lines)


def build_study_report(verification: Verification, out_dir: Path) -> Path:
    plan = verification.plan
    study = plan.study
    made = provenance(verification)
    tested = [r for r in verification.results if r.effect is not None]
    figures = []
    for number, unit in enumerate(dict.fromkeys(r.unit for r in tested)):  # one scale per figure
        rows = [(r.claim.id, r.effect, r.ci[0], r.ci[1], r.verdict) for r in tested if r.unit == unit]
        figures.append(Figure(f"claims{'-' + str(number + 1) if number else ''}.png", effects_figure(rows, unit),
                              f"Each tested claim's effect in {unit} (point) and 95% CI (bar), coloured by verdict: "
                              "green supported, red contradicted, grey inconclusive."))
    sections = [
        Section("Abstract", [_abstract(verification)]),
        Section("Research question", [study.question]),
        _methodology(verification),
        Section("Claims", tables=[claims_table(verification)], figures=figures),
        *_claim_sections(verification),
        Section("Results per run", tables=_results_tables(verification)),
        _limitations(verification),
        Section("References", [f"[{key}] {citation}" for key, citation in study.references.items()]),
        _provenance_section(made),
    ]
    title = f"{study.title} \u2014 xstilts study {study.name}, setup {plan.setup_name}"
    out_dir = Path(out_dir)
    for figure in (f for section in sections for f in section.figures):
        write_bytes_atomic(out_dir / "figures" / figure.file_name, figure.png)
    write_text_atomic(out_dir / "report.md", render_markdown(title, sections, "figures"))
    write_text_atomic(out_dir / "report.html", render_html(title, sections))
    write_json_atomic(out_dir / "verdicts.json", {**verdicts_json(verification), "provenance": made})
    return out_dir / "report.html"


def verdicts_json(verification: Verification) -> dict:
    return {
        "study": verification.plan.study.name,
        "setup": verification.plan.setup_name,
        "n_boot": verification.n_boot,
        "claims": [{"id": r.claim.id, "type": r.claim.type, "statement": r.claim.statement, "verdict": r.verdict,
                    "reason": r.reason or None, "effect": r.effect, "ci": list(r.ci) if r.ci else None,
                    "unit": r.unit, "confidence": r.confidence, "too_small": r.too_small, "what": r.what or None,
                    "languages": list(r.languages), "values": r.details, "source": r.claim.source.model_dump(),
                    "tasks_not_learned": r.conditions[0].tasks_not_learned if r.conditions else {},
                    "conditions": {c.label: {"runs": [run.name for run in c.runs], "points": c.points,
                                             "not_learned": c.not_learned}
                                   for c in r.conditions}}
                   for r in verification.results],
    }
