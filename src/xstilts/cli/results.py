"""`xstilts results`: pivot tables and SQL over the results store; Parquet export; rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xstilts.analysis.results_tables import PIVOTS, intermediate_by_target, language_by_run
from xstilts.console import console, results_console, table
from xstilts.errors import XstiltsError, did_you_mean
from xstilts.store.results import ResultsStore

DEFAULT_STORE = Path("runs/results.duckdb")


def results(
    store: Annotated[Path, typer.Option("--store", help="The results store (a grid's `store`).")] = DEFAULT_STORE,
    pivot: Annotated[list[str], typer.Option("--pivot", help="intermediate-target or language-run "
                                             "(repeatable; default both).")] = [],
    metric: Annotated[str, typer.Option(help="Metric of the pivot tables.")] = "accuracy",
    sql: Annotated[str | None, typer.Option("--sql", help="Run this SQL on the tables runs and results "
                                            "and print its rows instead.")] = None,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="Also write runs.parquet and "
                                                 "results.parquet into this folder.")] = None,
    rebuild: Annotated[Path | None, typer.Option("--rebuild", help="First rebuild the store from the "
                                                 "finished run folders under this folder.")] = None,
) -> None:
    """The results store of grids: one row per run, phase, task, language and metric."""
    # A pipe or file has no width to fit (rich assumes 80 columns there): print the tables whole.
    printer = results_console if results_console.is_terminal else Console(width=max(results_console.width, 200))
    results_store = ResultsStore(store)
    if rebuild is not None:
        count = results_store.rebuild(rebuild)
        console.print(f"rebuilt {store} from {count} finished run(s) under {rebuild}")
    if sql is not None:
        columns, rows = results_store.query(sql)
        printer.print(table("query", columns, [["" if v is None else str(v) for v in row] for row in rows]))
    else:
        unknown = [p for p in pivot if p not in PIVOTS]
        if unknown:
            raise XstiltsError(f"--pivot {unknown[0]}: allowed: {', '.join(PIVOTS)}.{did_you_mean(unknown[0], PIVOTS)}")
        builders = {"intermediate-target": intermediate_by_target, "language-run": language_by_run}
        for name in pivot or PIVOTS:
            made = builders[name](results_store, metric)
            printer.print(table(made.title, made.header, made.rows))
    if parquet is not None:
        for path in results_store.export_parquet(parquet):
            console.print(f"wrote {path}")
