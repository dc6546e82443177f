"""`xstilts study run|verify STUDY`: the `study` sub-app of the command line. A study's runs go
to the executors of `xstilts grid run` (this machine, Ray, Slurm)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xstilts.cli.grid import ExecutorOption, RetriesOption, WorkersOption, make_executor
from xstilts.console import console, results_console, table
from xstilts.executors.grid_runner import run_grid
from xstilts.studies.plan import plan_study
from xstilts.studies.report import build_study_report, claims_table
from xstilts.studies.runner import check_study, pending_attacks, study_grid
from xstilts.studies.verify import verify_study

study_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Research questions and claims, verified against runs.")

Setup = Annotated[str | None, typer.Option("--setup", help="The study's setup (e.g. offline, gpu); default: its first.")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Local data in XTREME layout; defaults to "
                                              "$XSTILTS_DATA_DIR.")]
Overrides = Annotated[list[str], typer.Option("--set", help="Override a key of every run's config: key.sub=value.")]


@study_app.command("run")
def run(
    study: Annotated[Path, typer.Argument(help="Study YAML file (studies/<name>.yaml).")],
    setup: Setup = None,
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
    retries: RetriesOption = None,
    only: Annotated[str | None, typer.Option("--only", help="Run only the runs whose name matches this glob, e.g. "
                                             "'phang2020-qa-*' (a second machine or process can take the rest).")] = None,
    data_dir: DataDir = None,
    set_: Overrides = [],
) -> None:
    """Run or resume every run the study's setup needs (finished runs are skipped, interrupted
    ones resume; runs with identical resolved configs run once), each followed by its attacks.
    Runs go to the executor, as a grid's do; the setup's `execution:` holds the grid file's settings."""
    plan = plan_study(study, setup, data_dir, set_)
    check_study(plan)
    grid = study_grid(plan, only)
    aliases = len(plan.runs) - len(plan.unique_runs)
    console.print(f"study {plan.study.name}, setup {plan.setup_name}: {len(grid.runs)} runs"
                  + (f" ({aliases} more share a run with an identical config)" if aliases else ""))
    result = run_grid(grid, make_executor(executor, grid, workers), retries, pending_attacks(plan))
    if result.failed:
        console.print(f"[red]{len(result.failed)} run(s) failed[/red] (in training or in their attacks): "
                      f"{', '.join(result.failed)}; `study verify` leaves out what they would measure")
        raise typer.Exit(1)


@study_app.command("verify")
def verify(
    study: Annotated[Path, typer.Argument(help="Study YAML file (studies/<name>.yaml).")],
    setup: Setup = None,
    data_dir: DataDir = None,
    set_: Overrides = [],
    out: Annotated[Path | None, typer.Option("--out", help="Write report.html, report.md, figures/ and "
                                             "verdicts.json here.")] = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="Bootstrap replicates.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Every claim: the observed effect with a 95% CI (bootstrap over examples and seeds), a
    verdict (supported, contradicted, inconclusive, untestable-here) and its confidence."""
    verification = verify_study(plan_study(study, setup, data_dir, set_), bootstrap, seed)
    claims = claims_table(verification)
    shown = [claims.columns.index(c) for c in ("claim", "expected", "verdict", "effect [95% CI]", "unit", "confidence",
                                               "did not learn")]
    # A pipe or file has no width to fit (rich assumes 80 columns there): print the table whole.
    printer = results_console if results_console.is_terminal else Console(width=max(results_console.width, 160))
    printer.print(table(f"study {verification.plan.study.name} ({verification.plan.setup_name})",
                        [claims.columns[i] for i in shown], [[row[i] for i in shown] for row in claims.rows]))
    for result in verification.results:
        if result.too_small:
            console.print(f"{result.claim.id}: {result.too_small}")
        if result.effect is None:
            console.print(f"{result.claim.id}: untestable here: {result.reason}")
    if out is not None:
        page = build_study_report(verification, out)
        console.print(f"report in {page} (markdown: {page.with_suffix('.md')}; verdicts: {out / 'verdicts.json'})")
