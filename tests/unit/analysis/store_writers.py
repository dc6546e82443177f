"""A writer process of the concurrency test (a module of its own: a spawned process imports
only this and the store, not the test module's CLI and torch)."""

from __future__ import annotations

from pathlib import Path

from xstilts.store.results import ResultsStore


def add_runs(store: str, run_dirs: list[str]) -> None:
    for run_dir in run_dirs:
        ResultsStore(Path(store)).add_run_dir(Path(run_dir))
