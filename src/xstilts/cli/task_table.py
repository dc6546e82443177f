"""`xstilts tasks`: the task registry as a table (compact, or `--wide` with every language
and source) or as JSON. Needs no torch: it starts in a fraction of a second."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from xstilts.cli.options import TaskDirs
from xstilts.console import results_console
from xstilts.data.registry import load_registry
from xstilts.tasks.spec import TaskSpec

app = typer.Typer()


def _labels(spec: TaskSpec, wide: bool) -> str:
    if spec.label_count:
        return f"ids 0..{spec.label_count - 1} (named by the data)" if wide else str(spec.label_count)
    if not spec.labels:
        return "spans" if spec.format == "span_extraction" else "-"
    return ", ".join(spec.labels) if wide else str(len(spec.labels))


def _sources(spec: TaskSpec) -> list[str]:
    sources = []
    for s in spec.sources:
        if s.kind == "hub":
            sources.append(f"hub:{s.dataset}" + (f" ({s.config})" if s.config else ""))
        else:
            sources.append(f"{s.kind}:{s.file}")
    if spec.note:
        sources.append(f"note: {spec.note}")
    return sources


def compact_table(specs: list[TaskSpec]) -> Table:
    """One line per task, within 80 columns: counts instead of lists."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="xstilts tasks (--wide: languages, heads, sources)")
    for column in ("task", "format", "labels", "langs", "trained on"):
        table.add_column(column, no_wrap=True)
    for spec in specs:
        table.add_row(spec.name, spec.format, _labels(spec, wide=False), str(len(spec.languages)),
                      f"{spec.train_task or 'own'} ({spec.train_language})")
    return table


def wide_table(specs: list[TaskSpec]) -> Table:
    table = Table(title="xstilts tasks")
    for column in ("task", "format", "labels", "languages", "trained on", "head", "sources"):
        table.add_column(column, overflow="fold")
    for spec in specs:
        table.add_row(spec.name, spec.format, _labels(spec, wide=True),
                      f"{len(spec.languages)}: {' '.join(spec.languages)}",
                      f"{spec.train_task or spec.name} ({spec.train_language})", spec.head, "\n".join(_sources(spec)))
    return table


@app.command()
def tasks(
    task_dir: TaskDirs = [],
    wide: Annotated[bool, typer.Option("--wide", help="Every label, language and source (needs a wide "
                                       "terminal).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Every spec as JSON, for scripts.")] = False,
) -> None:
    """List the registered tasks: format, labels, languages, training data, head (and with
    --wide, the data sources)."""

    specs = load_registry(task_dir, "--task-dir").specs()
    if as_json:
        print(json.dumps([spec.model_dump(mode="json") for spec in specs], indent=1, ensure_ascii=False))
    else:
        results_console.print(wide_table(specs) if wide else compact_table(specs))
