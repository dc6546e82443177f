"""The command line: a thin layer over config loading, the pipeline and evaluation."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from xstilts.errors import XstiltsError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="English intermediate-task training and zero-shot cross-lingual transfer.")

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Local data in XTREME layout "
                    "(<task>/<split>-<lang>.<ext>); defaults to $XSTILTS_DATA_DIR.")]


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    data_dir: DataDir = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a config key: key.sub=value (repeatable).")] = [],
    force: Annotated[bool, typer.Option("--force", help="Discard an existing run of this name and start over.")] = False,
) -> None:
    """Run an experiment: its phases in order, skipping finished ones, resuming the rest."""
    from xstilts.analysis.summary import language_table
    from xstilts.config import load_config
    from xstilts.console import console, results_console
    from xstilts.training.pipeline import run_experiment

    cfg = load_config(config, set_, data_dir)
    summary = run_experiment(cfg, force=force)
    for name, phase in summary["phases"].items():
        if phase["kind"] == "evaluate":
            results_console.print(language_table(name, phase))
    console.print(f"results in {cfg.output_dir / cfg.name}")


@app.command()
def validate(configs: Annotated[list[Path], typer.Argument(help="Experiment YAML files or folders (searched recursively).")]) -> None:
    """Check experiment configs (keys, types, tasks, languages) without running anything."""
    from xstilts.config import load_config
    from xstilts.console import console
    from xstilts.training.pipeline import check_config

    files = [f for c in configs for f in (sorted(c.rglob("*.yaml")) if c.is_dir() else [c])]
    for file in files:
        # Data files are checked at run time: validation must not depend on --data-dir.
        check_config(load_config(file), check_files=False)
        console.print(f"[green]ok[/green] {file}")


@app.command()
def tasks() -> None:
    """List the registered tasks: format, labels, languages, training data, sources."""
    from xstilts.console import results_console
    from xstilts.tasks.registry import registry

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
        table.add_row(spec.name, spec.format, ", ".join(spec.labels),
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
    max_examples: Annotated[Optional[int], typer.Option(help="Score a seeded subset per language.")] = None,
    max_length: int = 128,
    seed: int = 42,
    bad_rows: Annotated[str, typer.Option(help="fail or skip (skipped rows are counted).")] = "fail",
    out: Annotated[Optional[Path], typer.Option(help="Where predictions go (default: beside the model).")] = None,
) -> None:
    """Evaluate a saved model zero-shot on the languages of a task."""
    import os

    from accelerate import Accelerator
    from pydantic import ValidationError

    from xstilts.analysis.summary import language_table
    from xstilts.config import DATA_DIR_ENV, EvaluatePhase, describe_validation_error
    from xstilts.console import console, results_console
    from xstilts.evaluation.zero_shot import evaluate_languages
    from xstilts.io import write_json_atomic
    from xstilts.models.multitask import load_model
    from xstilts.tasks.data import DataSettings

    langs = "all" if languages == "all" else [code.strip() for code in languages.split(",") if code.strip()]
    try:
        cfg = EvaluatePhase(kind="evaluate", name="eval", task=task, split=split, languages=langs,
                            max_examples=max_examples)
    except ValidationError as exc:
        raise XstiltsError(describe_validation_error(exc, "xstilts eval")) from None
    if bad_rows not in ("fail", "skip"):
        raise XstiltsError(f"--bad-rows {bad_rows!r}: allowed: fail, skip")
    data_dir = data_dir or (Path(os.environ[DATA_DIR_ENV]) if os.environ.get(DATA_DIR_ENV) else None)
    model, tokenizer = load_model(checkpoint)
    device = Accelerator().device
    model.to(device)
    out = out or checkpoint.parent / f"eval-{task}-{split}"
    shutil.rmtree(out / "scores", ignore_errors=True)  # an explicit eval always recomputes
    metrics = evaluate_languages(model, tokenizer, cfg, out, DataSettings("auto", data_dir, bad_rows),  # type: ignore[arg-type]
                                 seed, max_length, device, where="--languages")
    write_json_atomic(out / "metrics.json", metrics)
    results_console.print(language_table(str(checkpoint), metrics))
    console.print(f"predictions in {out}")


def main() -> None:
    try:
        app()
    except XstiltsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
