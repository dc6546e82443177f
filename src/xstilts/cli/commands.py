"""The commands that train, evaluate and analyse (they load torch); see `__init__.py`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import torch
import typer
from accelerate import Accelerator
from pydantic import ValidationError
from rich.console import Console

from xstilts.analysis.compare import budget_note, compare_runs, comparison_markdown, degenerate_notes, rich_table
from xstilts.analysis.report import ReportOptions, build_report
from xstilts.analysis.runs import resolve_run_dirs
from xstilts.cli.grid import grid_app
from xstilts.cli.options import DataDir, TaskDirs
from xstilts.cli.results import DEFAULT_STORE, results
from xstilts.cli.study import study_app
from xstilts.config import EvaluatePhase, ExperimentConfig, data_dir_from, describe_validation_error, plan_experiments
from xstilts.config.loading import eval_settings
from xstilts.console import console, results_console
from xstilts.data.loading import DataSettings
from xstilts.data.registry import TaskRegistry, load_registry, resolve_languages
from xstilts.errors import XstiltsError
from xstilts.evaluation.benchmark_score import score_submission, scores_table
from xstilts.evaluation.summary import language_table
from xstilts.evaluation.zero_shot import evaluate_languages
from xstilts.export import export_model
from xstilts.io import write_json_atomic, write_text_atomic
from xstilts.models.multitask import check_max_length, load_model, position_limit
from xstilts.robustness.attack import AttackOptions, latest_model_dir, run_attack, run_config
from xstilts.robustness.perturbations import WordBudgetPerturbation
from xstilts.robustness.perturbed_sets import PerturbedSet
from xstilts.robustness.registry import build_perturbations
from xstilts.robustness.report import rich_tables
from xstilts.robustness.search import GreedyAttack
from xstilts.training.interrupts import Interrupted
from xstilts.training.pipeline import check_run, run_plan

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="English intermediate-task training and zero-shot cross-lingual transfer.")
app.add_typer(study_app, name="study")

app.add_typer(grid_app, name="grid")
app.command()(results)

StoreOption = Annotated[Path, typer.Option("--store", help="The results store that store:RUN arguments name.")]


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    data_dir: DataDir = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a config key: key.sub=value (repeatable).")] = [],
    force: Annotated[bool, typer.Option("--force", help="Discard an existing run of this name and start over.")] = False,
    bad_rows: Annotated[str | None, typer.Option(help="fail or skip (skipped rows are counted); "
                                                  "sets the config's data.bad_rows.")] = None,
    task_dir: TaskDirs = [],
) -> None:
    """Run an experiment: its phases in order, skipping finished ones, resuming the rest. A
    study file (variants) or a permuted curriculum stands for several runs, run in turn."""

    overrides = [*set_, f"data.bad_rows={_bad_rows_option(bad_rows)}"] if bad_rows is not None else set_
    plans = plan_experiments(config, overrides, data_dir, task_dir)
    for plan in plans:  # every file, model and tracker of every run is checked before the first one starts
        check_run(plan)
    for number, plan in enumerate(plans, start=1):
        cfg = plan.config
        if len(plans) > 1:
            console.rule(f"run {number}/{len(plans)}: {cfg.name}")
        try:
            summary = run_plan(plan, force=force)
        except Interrupted as stopped:
            console.print(str(stopped), markup=False, highlight=False)
            raise typer.Exit(128 + stopped.signum) from None  # the shell's code for death by that signal
        for name, phase in summary["phases"].items():
            if phase["kind"] == "evaluate":
                results_console.print(language_table(f"{cfg.name} {name}", phase))
        console.print(f"results in {cfg.output_dir / cfg.name}")


@app.command()
def validate(
    configs: Annotated[list[Path], typer.Argument(help="Experiment YAML files or folders (searched recursively).")],
    task_dir: TaskDirs = [],
) -> None:
    """Check experiment configs (keys, types, tasks, languages) without running anything."""

    files = [f for c in configs for f in (sorted(c.rglob("*.yaml")) if c.is_dir() else [c])]
    for file in files:
        # Data files are checked at run time: validation must not depend on --data-dir.
        plans = plan_experiments(file, task_dirs=task_dir)
        runs = f" ({len(plans)} runs: {', '.join(p.config.name for p in plans)})" if len(plans) > 1 else ""
        console.print(f"[green]ok[/green] {file}{runs}")


@app.command("eval")
def eval_(
    checkpoint: Annotated[Path, typer.Argument(help="A model directory, e.g. runs/<run>/<phase>/model.")],
    task: Annotated[str, typer.Option("--task", help="Task to evaluate.")],
    languages: Annotated[str, typer.Option("--languages", help="'all' or comma-separated codes.")] = "all",
    split: Annotated[str, typer.Option("--split", help="dev or test.")] = "dev",
    data_dir: DataDir = None,
    max_examples: Annotated[int | None, typer.Option(help="Score a seeded subset per language.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per input; longer inputs are truncated. Default: the "
                                                        "run's (runs/<run>/config.yaml), else "
                                                        f"{ExperimentConfig.model_fields['max_length'].default}, "
                                                        "within the model's position limit.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the --max-examples subset. Default: the run's, else "
                                                  f"{ExperimentConfig.model_fields['seed'].default}.")] = None,
    bad_rows: Annotated[str | None, typer.Option(help="fail or skip (skipped rows are counted). "
                                                      "Default: the run's, else fail.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where predictions go (default: beside the model).")] = None,
    task_dir: TaskDirs = [],
) -> None:
    """Evaluate a saved model zero-shot on the languages of a task. A model of a run
    (runs/<run>/<phase>/model) is encoded and scored with the run's own settings unless overridden."""



    settings = eval_settings(checkpoint, task, max_length, seed,
                             _bad_rows_option(bad_rows) if bad_rows is not None else None, data_dir)
    try:
        cfg = EvaluatePhase(kind="evaluate", name="eval", task=task, split=split, languages=parse_languages(languages),
                            max_examples=max_examples, layer=settings.layer)
    except ValidationError as exc:
        raise XstiltsError(describe_validation_error(exc, "xstilts eval")) from None
    spec = _task_option(load_registry(task_dir, "--task-dir"), task)
    langs = resolve_languages(spec, cfg.languages, "--languages")
    console.print(f"settings: {settings.origin}", markup=False, highlight=False, soft_wrap=True)
    model, tokenizer = load_model(checkpoint)
    if max_length is None:  # the run's or the default, within the model's position limit
        max_length = min(settings.max_length, position_limit(model.encoder) or settings.max_length)
    check_max_length(model.encoder, max_length, "--max-length")
    try:
        accelerator = Accelerator(mixed_precision=settings.mixed_precision)
    except ValueError as exc:  # e.g. fp16 on a machine without a GPU
        raise XstiltsError(f"mixed_precision {settings.mixed_precision}: {str(exc).splitlines()[0]}") from None
    model.to(accelerator.device)
    out = out or checkpoint.parent / f"eval-{task}-{split}"
    shutil.rmtree(out / "scores", ignore_errors=True)  # an explicit eval always recomputes
    with accelerator.autocast():  # the run's precision, as its evaluate phases ran
        metrics = evaluate_languages(model, tokenizer, spec, langs, cfg, out, settings.data, settings.seed,
                                     max_length, accelerator.device)
    write_json_atomic(out / "metrics.json", metrics)
    results_console.print(language_table(str(checkpoint), metrics))
    console.print(f"predictions in {out}")


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (runs/<name>), or store:RUN_ID; list "
                                                   "baselines first: comparisons are later run minus earlier run.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html, report.md and figures/.")],
    phase: Annotated[str | None, typer.Option(help="Evaluate phase to analyse (default: each run's last "
                                                 "one with several languages).")] = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="Bootstrap resamples of the test examples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and permutation tests.")] = 0,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Report zero-shot scores against typological distance (URIEL) from the training language:
    per-language table, robustness slopes, comparisons of runs, figures; one self-contained HTML page."""

    page = build_report(resolve_run_dirs(run_dirs, store), out, ReportOptions(phase=phase, n_boot=bootstrap, seed=seed))
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
                        f"touches (default {WordBudgetPerturbation.model_fields['strength'].default}).")] = None,
    query_budget: Annotated[int | None, typer.Option(help="Model queries per example for the attacks "
                            f"(default {GreedyAttack.model_fields['query_budget'].default}).")] = None,
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
    batch_size: Annotated[int, typer.Option(help="Examples per forward pass.")] = 64,
    bad_rows: Annotated[str | None, typer.Option(help="fail or skip (skipped rows are counted); default: "
                                                  "the run's data.bad_rows.")] = None,
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
    spec = _task_option(load_registry(config.get("task_dirs") or []), task)
    options = AttackOptions(spec=spec, languages=resolve_languages(spec, parse_languages(languages), "--languages"),
                            perturbations=chosen, split=split,  # type: ignore[arg-type]
                            max_examples=max_examples, seed=seed, max_length=config.get("max_length", 128),
                            batch_size=batch_size, dictionaries=dictionary or None,
                            data=DataSettings(dir=data_dir, bad_rows=_bad_rows_option(
                                bad_rows or (config.get("data") or {}).get("bad_rows", "fail"))), reuse=reused,
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
    run_dirs: Annotated[list[Path], typer.Argument(help="Finished runs (runs/<name> or store:RUN_ID), the baseline first; runs "
                                                   "whose configs differ only in seed count as seeds of one setting.")],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the table as markdown to this file.")] = None,
    phase: Annotated[str | None, typer.Option(help="Evaluate phase to compare (default: each run's last one "
                                                 "with several languages).")] = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="Bootstrap resamples (one seed per setting).")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Zero-shot accuracy per language and on average for runs that differ in one thing (e.g. the
    curriculum), with each setting's difference from the first and its 95% CI: across seeds
    when there are several, a paired bootstrap over examples when there is one."""

    comparison = compare_runs(resolve_run_dirs(run_dirs, store), phase, bootstrap, seed)
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
    for note in result["notes"]:  # missing answers, subsets, scores evaluate.py cannot compute
        console.print(f"warning: {note}", markup=False, highlight=False, soft_wrap=True)
    if json_out is not None:
        write_json_atomic(json_out, result)
        console.print(f"scores in {json_out}")


def parse_languages(text: str) -> list[str] | str:
    """`--languages all` or comma-separated codes."""
    return "all" if text.strip() == "all" else [code.strip() for code in text.split(",") if code.strip()]


def default_device() -> torch.device:
    """The device accelerate would train on: a GPU when there is one."""
    return Accelerator().device


def _bad_rows_option(value: str) -> str:
    if value not in ("fail", "skip"):
        raise XstiltsError(f"--bad-rows {value!r}: allowed: fail, skip")
    return value


def _task_option(tasks: TaskRegistry, name: str):
    try:
        return tasks.get(name)
    except XstiltsError as exc:
        raise XstiltsError(f"--task: {exc}") from None


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="A trained phase (runs/<run>/<phase>) or its model/ folder.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the transformers model, tokenizer and README.md.")],
    head: Annotated[str | None, typer.Option(help="The head to export (default: the model's only one).")] = None,
    push_to_hub: Annotated[str | None, typer.Option("--push-to-hub", help="Also upload the folder to this Hub "
                                                    "repository (user/name; needs a token).")] = None,
) -> None:
    """Export a trained model as a standard transformers folder (AutoModelForSequenceClassification
    or ...ForTokenClassification) that predicts what xstilts predicts, with a model card."""

    folder = export_model(model, out, head, push_to_hub)
    console.print(f"exported to {folder}" + (f" and pushed to {push_to_hub}" if push_to_hub else ""))
