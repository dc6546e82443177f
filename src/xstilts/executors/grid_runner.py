"""Running a grid: skip runs whose identity already has a result in the store, run the rest on
an executor, retry failed ones (each attempt keeps its log), and say how far the grid is."""

from __future__ import annotations

import math
import os
import socket
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from xstilts.config.grid import Grid, GridRun
from xstilts.console import console
from xstilts.executors.backends import Executor
from xstilts.executors.jobs import JobOutcome, RunJob
from xstilts.store.results import ResultsStore
from xstilts.store.rows import read_run_record
from xstilts.studies.schema import AttackSpec


@dataclass
class GridProgress:
    """Counts of a grid's runs, and an estimate of the time left from the runs' durations."""

    total: int
    done: int = 0
    running: int = 0
    failed: int = 0
    durations: list[float] = field(default_factory=list)  # seconds of finished runs
    parallelism: int = 1

    @property
    def pending(self) -> int:
        return self.total - self.done - self.running - self.failed

    def seconds_left(self) -> float | None:
        if not self.durations:
            return None
        remaining = self.pending + self.running + self.failed
        return statistics.mean(self.durations) * math.ceil(remaining / max(1, self.parallelism))

    def line(self) -> str:
        left = self.seconds_left()
        eta = "unknown (no run finished yet)" if left is None else _duration(left)
        return (f"{self.done}/{self.total} done, {self.running} running, {self.failed} failed, "
                f"{self.pending} pending; time left about {eta}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


@dataclass(frozen=True)
class GridResult:
    skipped: list[str]  # already finished before this call
    done: list[str]
    failed: list[str]  # after every retry


def run_grid(grid: Grid, executor: Executor, retries: int | None = None,
             attacks: Mapping[str, tuple[AttackSpec, ...]] | None = None) -> GridResult:
    """Run a grid's missing runs; each failed one again up to `retries` times (default: the grid's).
    `attacks`: run name -> a study's attacks on it not saved yet, made by the run's job (a
    finished run with some gets a job for them alone)."""
    attacks = attacks or {}
    store = ResultsStore(grid.store)
    finished = store.finished_run_ids()
    todo = [r for r in grid.runs if r.run_id not in finished or attacks.get(r.name)]
    skipped = [r.name for r in grid.runs if r not in todo]
    attacks_only = sum(r.run_id in finished for r in todo)
    console.print(f"grid {grid.path}: {len(grid.runs)} runs, {len(skipped)} already finished (skipped), "
                  f"{len(todo)} to run" + (f" ({attacks_only} finished, for their attacks)" if attacks_only else "")
                  + f"; results in {grid.store}")
    progress = GridProgress(len(grid.runs), done=len(skipped), parallelism=executor.parallelism)
    done: list[str] = []
    retries = grid.settings.retries if retries is None else retries
    for attempt in range(1 + retries):
        if not todo:
            break
        if attempt:
            console.print(f"retrying {len(todo)} failed run(s) (retry {attempt} of {retries})")
        progress.failed = 0
        unfinished = [len(todo)]  # jobs of this round without an outcome yet
        progress.running = min(len(todo), progress.parallelism)

        def report(outcome: JobOutcome) -> None:
            unfinished[0] -= 1
            progress.running = min(unfinished[0], progress.parallelism)
            if outcome.status == "done":
                progress.done += 1
                progress.durations.append(outcome.seconds)
                console.print(f"[green]{outcome.name}[/green] done in {_duration(outcome.seconds)}. {progress.line()}")
            else:
                progress.failed += 1
                console.print(f"[red]{outcome.name} failed[/red]: {outcome.error} (log: {outcome.log}). {progress.line()}")

        finished = store.finished_run_ids()  # a failed job's run may be stored, its attacks not
        jobs = [RunJob.of(run, grid.store, grid.settings.resources.cpus, attacks.get(run.name, ()),
                          trained=run.run_id in finished) for run in todo]
        outcomes = {o.name: o for o in executor.run(jobs, report)}
        done += [r.name for r in todo if outcomes[r.name].status == "done"]
        todo = [r for r in todo if outcomes[r.name].status != "done"]
    return GridResult(skipped, done, [r.name for r in todo])


def _is_running(record: dict) -> bool:
    """A run marked running is running unless it was on this host and its process is gone."""
    if record.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(record.get("pid", 0)), 0)
    except (OSError, ValueError):
        return False
    return True


def run_status(run: GridRun, finished: set[str]) -> str:
    """done, running, failed or pending."""
    if run.run_id in finished:
        return "done"
    record = read_run_record(run.run_dir)
    if record.get("run_id") != run.run_id:
        return "pending"
    status = record.get("status")
    if status == "running" and not _is_running(record):
        return "pending"  # cut off (killed, machine lost): resumes on the next `grid run`
    return status if status in ("running", "failed") else "pending"


def grid_progress(grid: Grid) -> tuple[GridProgress, dict[str, str]]:
    """The grid's counts and time left, from its run folders and store; each run's status."""
    finished = ResultsStore(grid.store).finished_run_ids() if Path(grid.store).is_file() else set()
    statuses = {run.name: run_status(run, finished) for run in grid.runs}
    progress = GridProgress(len(grid.runs), *(sum(s == k for s in statuses.values()) for k in ("done", "running", "failed")))
    for run in grid.runs:
        record = read_run_record(run.run_dir)
        if statuses[run.name] == "done" and record.get("started") and record.get("finished"):
            started, ended = (datetime.fromisoformat(record[k]) for k in ("started", "finished"))
            progress.durations.append((ended - started).total_seconds())
    progress.parallelism = max(1, progress.running)
    return progress, statuses
