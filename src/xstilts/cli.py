"""The command line: a thin layer over config loading, the pipeline and evaluation."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import torch
import typer
from accelerate import Accelerator
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from xstilts.analysis.compare import budget_note, compare_runs, comparison_markdown, degenerate_notes, rich_table
from xstilts.analysis.report import ReportOptions, build_report
from xstilts.config import EvaluatePhase, data_dir_from, describe_validation_error, load_experiments
from xstilts.console import console, results_console
from xstilts.data.loading import DataSettings
from xstilts.data.registry import get_task, registry, resolve_languages
from xstilts.errors import XstiltsError
from xstilts.evaluation.benchmark_score import score_submission, scores_table
from xstilts.evaluation.summary import language_table
from xstilts.evaluation.zero_shot import evaluate_languages
from xstilts.io import write_json_atomic, write_text_atomic
from xstilts.models.multitask import load_model
from xstilts.robustness.attack import AttackOptions, latest_model_dir, run_attack, run_config
from xstilts.robustness.perturbed_sets import PerturbedSet
from xstilts.robustness.registry import build_perturbations
from xstilts.robustness.report import rich_tables
from xstilts.training.pipeline import check_config, run_plan

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="English intermediate-task training and zero-shot cross-lingual transfer.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Local data in XTREME layout "
                    "(<task>/<split>-<lang>.<ext>); defaults to $XSTILTS_DATA_DIR.")]


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    data_dir: DataDir = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a config key: key.sub=value (repeatable).")] = [],
    force: Annotated[bool, typer.Option("--force", help="Discard an existing run of this name and start over.")] = False,
) -> None:
    """Run an experiment: its phases in order, skipping finished ones, resuming the rest. A
    study file (variants) or a permuted curriculum stands for several runs, run in turn."""

    experiments = load_experiments(config, set_, data_dir)
    plans = [check_config(cfg) for cfg in experiments]  # every run's data is checked before the first one starts
    for number, plan in enumerate(plans, start=1):
        cfg = plan.config
        if len(plans) > 1:
            console.rule(f"run {number}/{len(plans)}: {cfg.name}")
        summary = run_plan(plan, force=force)
        for name, phase in summary["phases"].items():
            if phase["kind"] == "evaluate":
                results_console.print(language_table(f"{cfg.name} {name}", phase))
        console.print(f"results in {cfg.output_dir / cfg.name}")


@app.command()
def validate(
    configs: Annotated[list[Path], typer.Argument(help="Experiment YAML files or folders (searched recursively).")],
) -> None:
    """Check experiment configs (keys, types, tasks, languages) without running anything."""

    files = [f for c in configs for f in (sorted(c.rglob("*.yaml")) if c.is_dir() else [c])]
    for file in files:
        experiments = load_experiments(file)
        for cfg in experiments:
            # Data files are checked at run time: validation must not depend on --data-dir.
            check_config(cfg, check_files=False)
        runs = f" ({len(experiments)} runs: {', '.join(e.name for e in experiments)})" if len(experiments) > 1 else ""
        console.print(f"[green]ok[/green] {file}{runs}")


@app.command()
def tasks() -> None:
    """List the registered tasks: format, labels, languages, training data, sources."""

    table = Table(title="xstilts tasks")
    for column in ("task", "format", "labels", "languages", "trained on", "head", "sources"):
        table.add_column(column, overflow="fold")
    for spec in sorted(registry().values(), key=lambda s: s.name):
        sources = []
        for s in spec.sources:
            if s.kind == "hub":
                sources.append(f"hub:{s.dataset}" + (f" ({s.config})" if s.config else ""))
            else:
                sources.append(f"{s.kind}:{s.file}")
        if spec.note:
            sources.append(f"note: {spec.note}")
        labels = f"ids 0..{spec.label_count - 1} (named by the data)" if spec.label_count else ", ".join(spec.labels)
        table.add_row(spec.name, spec.format, labels,
                      f"{len(spec.languages)}: {' '.join(spec.languages)}",
                      f"{spec.train_task or spec.name} ({spec.train_language})", spec.head, "\n".join(sources))
    results_console.print(table)


@app.command("eval")
def eval_(
    checkpoint: Annotated[Path, typer.Argument(help="A model directory, e.g. runs/<run>/<phase>/model.")],
    task: Annotated[str, typer.Option("--task", help="Task to evaluate.")],
    languages: Annotated[str, typer.Option("--languages", help="'all' or comma-separated codes.")] = "all",
    split: Annotated[str, typer.Option("--split", help="dev or test.")] = "dev",
    data_dir: DataDir = None,
    max_examples: Annotated[int | None, typer.Option(help="Score a seeded subset per language.")] = None,
    max_length: int = 128,
    seed: int = 42,
    bad_rows: Annotated[str, typer.Option(help="fail or skip (skipped rows are counted).")] = "fail",
    out: Annotated[Path | None, typer.Option(help="Where predictions go (default: beside the model).")] = None,
) -> None:
    """Evaluate a saved model zero-shot on the languages of a task."""



    try:
        cfg = EvaluatePhase(kind="evaluate", name="eval", task=task, split=split, languages=parse_languages(languages),
                            max_examples=max_examples)
    except ValidationError as exc:
        raise XstiltsError(describe_validation_error(exc, "xstilts eval")) from None
    if bad_rows not in ("fail", "skip"):
        raise XstiltsError(f"--bad-rows {bad_rows!r}: allowed: fail, skip")
    spec = _task_option(task)
    langs = resolve_languages(spec, cfg.languages, "--languages")
    data = DataSettings(dir=data_dir_from(data_dir), bad_rows=bad_rows)
    model, tokenizer = load_model(checkpoint)
    device = default_device()
    model.to(device)
    out = out or checkpoint.parent / f"eval-{task}-{split}"
    shutil.rmtree(out / "scores", ignore_errors=True)  # an explicit eval always recomputes
    metrics = evaluate_languages(model, tokenizer, spec, langs, cfg, out, data, seed, max_length, device)
    write_json_atomic(out / "metrics.json", metrics)
    results_console.print(language_table(str(checkpoint), metrics))
    console.print(f"predictions in {out}")


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (runs/<name>); list baselines first: "
                                                   "comparisons are later run minus earlier run.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html, report.md and figures/.")],
    phase: Annotated[str | None, typer.Option(help="Evaluate phase to analyse (default: each run's last "
                                                 "one with several languages).")] = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="Bootstrap resamples of the test examples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and permutation tests.")] = 0,
) -> None:
    """Report zero-shot scores against typological distance (URIEL) from the training language:
    per-language table, robustness slopes, comparisons of runs, figures; one self-contained HTML page."""

    page = build_report(run_dirs, out, ReportOptions(phase=phase, n_boot=bootstrap, seed=seed))
    console.print(f"report in {page} (markdown: {page.with_suffix('.md')})")


@app.command()
def attack(
    run_dir: Annotated[Path, typer.Argument(help="A finished run (runs/<name>): its last trained model is "
                                            "attacked. A model directory works too.")],
    task: Annotated[str, typer.Option("--task", help="Task to perturb; the model needs its trained head.")],
    languages: Annotated[str, typer.Option("--languages", help="'all' or comma-separated codes.")] = "all",
    perturbations: Annotated[str, typer.Option("--perturbations", help="'all' or comma-separated names: "
                             "char-noise, word-order, surface-noise, unicode-variants, entity-swap, code-switch, "
                             "code-switch-adversarial, textfooler, checklist-negation.")] = "all",
    strength: Annotated[float | None, typer.Option(help="Fraction of an example's words each perturbation "
                                                      "touches (default 0.15).")] = None,
    query_budget: Annotated[int | None, typer.Option(help="Model queries per example for the attacks "
                                                        "(default 60).")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="A perturbation option: name.option=value, e.g. "
                                            "textfooler.neighbours=10 (repeatable).")] = [],
    max_examples: Annotated[int | None, typer.Option(help="A seeded subset per language.")] = None,
    dictionary: Annotated[list[Path], typer.Option("--dictionary", help="Bilingual dictionary: a TSV, a dictd "
                          ".index file or a folder of them (repeatable; default: /usr/share/dictd, where "
                          "Debian's dict-freedict-* packages install).")] = [],
    reuse: Annotated[Path | None, typer.Option(help="Evaluate on a perturbed set an earlier attack saved "
                                                  "(its perturbed/ folder) instead of making one.")] = None,
    split: Annotated[str, typer.Option(help="dev or test.")] = "dev",
    data_dir: DataDir = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the subset and the perturbations (default: the run's).")] = None,
    batch_size: int = 64,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: RUN_DIR/attack/<task>, "
                                                "or <task>-reused with --reuse).")] = None,
) -> None:
    """Measure how far accuracy drops under perturbations and attacks, per language; save the
    perturbed sets so other models are evaluated on identical examples."""




    if split not in ("dev", "test"):
        raise XstiltsError(f"--split {split!r}: allowed: dev, test")
    model_dir = latest_model_dir(run_dir)
    config = run_config(run_dir)
    reused = PerturbedSet(reuse) if reuse is not None else None
    if reused is not None:
        if set_ or strength is not None or query_budget is not None or seed is not None:
            raise XstiltsError("--reuse evaluates the saved set as it was made (its parameters are in its "
                               "manifest.json); drop --set, --strength, --query-budget and --seed")
        chosen = reused.select(perturbations)
        seed, split = reused.manifest["seed"], reused.manifest["split"]
    else:
        seed = seed if seed is not None else config.get("seed", 42)
        chosen = build_perturbations(perturbations, set_, {"seed": seed, "strength": strength,
                                                           "query_budget": query_budget})
    data_dir = data_dir_from(data_dir, (config.get("data") or {}).get("dir"))
    options = AttackOptions(task=task, languages=parse_languages(languages), perturbations=chosen, split=split,  # type: ignore[arg-type]
                            max_examples=max_examples, seed=seed, max_length=config.get("max_length", 128),
                            batch_size=batch_size, dictionaries=dictionary or None,
                            data=DataSettings(dir=data_dir), reuse=reused,
                            device=default_device())
    base = run_dir if (run_dir / "metrics.json").is_file() else model_dir
    out = out or base / "attack" / (f"{task}-reused" if reused is not None else task)
    summary = run_attack(model_dir, options, out)
    # A pipe or file has no width to fit (rich assumes 80 columns there): print the tables whole.
    printer = results_console if results_console.is_terminal else Console(width=max(results_console.width, 160))
    for table in rich_tables(summary):
        printer.print(table)


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Finished runs (runs/<name>), the baseline first; runs "
                                                   "whose configs differ only in seed count as seeds of one setting.")],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the table as markdown to this file.")] = None,
    phase: Annotated[str | None, typer.Option(help="Evaluate phase to compare (default: each run's last one "
                                                 "with several languages).")] = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="Bootstrap resamples (one seed per setting).")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Zero-shot accuracy per language and on average for runs that differ in one thing (e.g. the
    curriculum), with each setting's difference from the first and its 95% CI: across seeds
    when there are several, a paired bootstrap over examples when there is one."""

    comparison = compare_runs(run_dirs, phase, bootstrap, seed)
    results_console.print(rich_table(comparison))
    results_console.print(budget_note(comparison))
    for note in degenerate_notes(comparison.groups):
        results_console.print(f"[bold red]{note}")
    if out is not None:
        write_text_atomic(out, comparison_markdown(comparison))
        console.print(f"markdown in {out}")


@app.command()
def score(
    predictions: Annotated[Path, typer.Option("--predictions", help="Submission folder: <task>/test-<lang>.<tsv|json> "
                                              "per task and language, e.g. a run's <phase>/xtreme.")],
    labels: Annotated[Path, typer.Option("--labels", help="Gold label files in the same layout.")],
    benchmark: Annotated[str, typer.Option("--benchmark", help="xtreme or xtreme-r: its tasks, languages and groups.")],
    split: Annotated[str, typer.Option(help="The files' split: test (a leaderboard submission) or dev.")] = "test",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every score to this JSON file.")] = None,
) -> None:
    """Score predictions in XTREME's submission layout as the XTREME / XTREME-R leaderboards do:
    per language, per task, per task group and overall (group and overall scores need all their tasks)."""

    if split not in ("dev", "test"):
        raise XstiltsError(f"--split {split!r}: allowed: dev, test")
    result = score_submission(predictions, labels, benchmark, split)
    results_console.print(scores_table(result))
    if json_out is not None:
        write_json_atomic(json_out, result)
        console.print(f"scores in {json_out}")


def parse_languages(text: str) -> list[str] | str:
    """`--languages all` or comma-separated codes."""
    return "all" if text.strip() == "all" else [code.strip() for code in text.split(",") if code.strip()]


def default_device() -> torch.device:
    """The device accelerate would train on: a GPU when there is one."""
    return Accelerator().device


def _task_option(name: str):
    try:
        return get_task(name)
    except XstiltsError as exc:
        raise XstiltsError(f"--task: {exc}") from None


def main() -> None:
    try:
        app()
    except XstiltsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
