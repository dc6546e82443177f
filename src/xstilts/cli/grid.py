"""`xstilts grid run GRID.yaml` and `xstilts grid status GRID.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xstilts.config.grid import Grid, load_grid
from xstilts.console import console, results_console, table
from xstilts.errors import XstiltsError, did_you_mean
from xstilts.executors.backends import EXECUTORS, Executor, LocalExecutor, RayExecutor, SlurmExecutor
from xstilts.executors.grid_runner import grid_progress, run_grid

grid_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Grids of experiments: a base config and axes, run on this machine, Ray or Slurm.")

GridFile = Annotated[Path, typer.Argument(help="Grid YAML file: base, axes, and retries/store/resources/ray/slurm.")]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Local data; defaults to $XSTILTS_DATA_DIR.")]
SetOption = Annotated[list[str], typer.Option("--set", help="Override a key of every run: key.sub=value (repeatable).")]


def make_executor(name: str, grid: Grid, workers: int | None) -> Executor:
    if name == "local":
        return LocalExecutor(workers or 1)
    if name == "ray":
        return RayExecutor(grid.settings.ray.address, grid.settings.resources, workers)
    if name == "slurm":
        return SlurmExecutor(grid.settings.slurm, grid.settings.resources, Path(grid.store).parent / "slurm",
                             grid.path.stem)
    raise XstiltsError(f"--executor {name}: allowed: {', '.join(EXECUTORS)}.{did_you_mean(name, EXECUTORS)}")


ExecutorOption = Annotated[str, typer.Option("--executor", help="local, ray or slurm.")]
WorkersOption = Annotated[int | None, typer.Option("--workers", help="local: worker processes (default 1: this "
                                                   "process); ray: the CPUs of a local Ray started for the runs.")]
RetriesOption = Annotated[int | None, typer.Option("--retries", help="Attempts after a failed one (default: the "
                                                   "file's retries).")]


@grid_app.command("run")
def run_command(
    grid_file: GridFile,
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
    retries: RetriesOption = None,
    data_dir: DataDirOption = None,
    set_: SetOption = [],
) -> None:
    """Run a grid's runs that have no result yet: finished runs are skipped, interrupted ones
    resume, failed ones are retried (every attempt keeps its log in runs/<name>/logs/)."""
    grid = load_grid(grid_file, set_, data_dir)
    result = run_grid(grid, make_executor(executor, grid, workers), retries)
    console.print(f"{len(result.done)} run(s) finished, {len(result.skipped)} skipped (finished before), "
                  f"{len(result.failed)} failed{': ' + ', '.join(result.failed) if result.failed else ''}")
    if result.failed:
        raise typer.Exit(1)


@grid_app.command("status")
def status_command(grid_file: GridFile, data_dir: DataDirOption = None, set_: SetOption = []) -> None:
    """How far a grid is: each run's status, counts, and an estimate of the time left."""
    grid = load_grid(grid_file, set_, data_dir)
    progress, statuses = grid_progress(grid)
    rows = [[run.name, run.run_id, statuses[run.name]] for run in grid.runs]
    results_console.print(table(f"grid {grid.path}", ["run", "id", "status"], rows))
    results_console.print(progress.line())
