"""The results store: one DuckDB file of tidy rows, `runs` and `results`.

    runs     one row per finished run: run_id (the identity of its config), name, run_dir,
             code_version, axes, config (JSON), model, seed, intermediate, target, timestamps (UTC)
    results  one row per run, phase, task, language and metric: the value, the config fields
             above, the examples scored and the path of the per-example predictions file

Several workers may finish at once (processes on one machine, or nodes sharing a file system):
every write holds a file lock beside the database for one transaction that first deletes the
run's rows, so a run added twice still has each row once, and (run_id, phase, task, language,
metric) is the results table's primary key. DuckDB lets one process open a file for writing,
so readers take the lock too and no connection outlives a call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from filelock import FileLock

from xstilts.errors import XstiltsError
from xstilts.store.rows import run_rows

RUN_COLUMNS = {
    "run_id": "VARCHAR PRIMARY KEY", "name": "VARCHAR", "run_dir": "VARCHAR", "code_version": "VARCHAR",
    "axes": "JSON", "config": "JSON", "model": "VARCHAR", "seed": "BIGINT", "intermediate": "VARCHAR",
    "target": "VARCHAR", "started": "TIMESTAMP", "finished": "TIMESTAMP",
}
RESULT_COLUMNS = {
    "run_id": "VARCHAR", "run_name": "VARCHAR", "model": "VARCHAR", "intermediate": "VARCHAR", "target": "VARCHAR",
    "seed": "BIGINT", "phase": "VARCHAR", "task": "VARCHAR", "split": "VARCHAR", "source_language": "VARCHAR",
    "language": "VARCHAR", "metric": "VARCHAR", "value": "DOUBLE", "examples": "BIGINT", "predictions": "VARCHAR",
    "started": "TIMESTAMP", "finished": "TIMESTAMP",
}
RESULT_KEY = ("run_id", "phase", "task", "language", "metric")
LOCK_TIMEOUT_S = 600  # a writer holds the lock for one transaction: milliseconds, seconds at most

_ARROW_TYPES = {"VARCHAR": pa.string(), "JSON": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
                "TIMESTAMP": pa.timestamp("us")}


def _schema(columns: dict[str, str]) -> pa.Schema:
    return pa.schema([(name, _ARROW_TYPES[kind.split()[0]]) for name, kind in columns.items()])


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")  # long inserts would draw a bar into the user's output
    return con


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    runs = ", ".join(f"{name} {kind}" for name, kind in RUN_COLUMNS.items())
    results = ", ".join(f"{name} {kind}" for name, kind in RESULT_COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS runs ({runs})")
    con.execute(f"CREATE TABLE IF NOT EXISTS results ({results}, PRIMARY KEY ({', '.join(RESULT_KEY)}))")


class ResultsStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S)

    @contextmanager
    def _connect(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        if not write and not self.path.is_file():
            raise XstiltsError(f"{self.path}: no results store here; a grid run writes one "
                               "(or build it from run folders: xstilts results --rebuild RUNS_DIR)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            con = _open(self.path)
            try:
                if write:
                    _create_tables(con)
                yield con
            finally:
                con.close()

    def add_runs(self, runs: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
        """Store (run record, result rows) pairs (`run_rows`), replacing any earlier rows of those runs."""
        with self._connect(write=True) as con:
            _insert(con, runs)

    def add_run_dir(self, run_dir: Path) -> str:
        """Store a finished run folder's results; its run id."""
        run, rows = run_rows(run_dir)
        self.add_runs([(run, rows)])
        return run["run_id"]

    def rebuild(self, runs_root: Path) -> int:
        """Replace the store by the finished runs found under `runs_root`; how many."""
        found = sorted({p.parent for p in Path(runs_root).rglob("metrics.json") if (p.parent / "config.yaml").is_file()})
        runs = [run_rows(run_dir) for run_dir in found]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_name(f".{self.path.name}.rebuild")
        staging.unlink(missing_ok=True)
        with self._lock:
            con = _open(staging)
            try:
                _create_tables(con)
                _insert(con, runs)
            finally:
                con.close()
            self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
            os.replace(staging, self.path)
        return len(runs)

    def query(self, sql: str, parameters: list[Any] | None = None) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of a SQL query on the tables `runs` and `results`."""
        with self._connect(write=False) as con:
            try:
                cursor = con.execute(sql, parameters or [])
            except duckdb.Error as exc:
                raise XstiltsError(f"SQL on {self.path}: {str(exc).splitlines()[0]}") from None
            return [d[0] for d in cursor.description or []], cursor.fetchall()

    def finished_run_ids(self) -> set[str]:
        if not self.path.is_file():
            return set()
        return {row[0] for row in self.query("SELECT run_id FROM runs")[1]}

    def run_dir(self, run_id: str) -> Path:
        """The folder of the run whose id is or starts with `run_id` (or whose name it is)."""
        _, rows = self.query("SELECT run_id, run_dir FROM runs WHERE run_id LIKE ? || '%' OR name = ?", [run_id, run_id])
        if not rows:
            raise XstiltsError(f"store:{run_id}: no run with this id or name in {self.path} "
                               "(list them: xstilts results --sql 'SELECT run_id, name FROM runs')")
        if len(rows) > 1:
            raise XstiltsError(f"store:{run_id}: several runs match in {self.path} "
                               f"({', '.join(r[0] for r in rows)}); give more of the id")
        return Path(rows[0][1])

    def export_parquet(self, folder: Path) -> list[Path]:
        """Both tables as Parquet files in `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        with self._connect(write=False) as con:
            for table in ("runs", "results"):
                out = folder / f"{table}.parquet"
                staging = folder / f".{table}.parquet.tmp"
                con.execute(f"COPY {table} TO '{_sql_string(staging)}' (FORMAT parquet)")
                os.replace(staging, out)
                written.append(out)
        return written


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")


def _arrow(rows: list[dict[str, Any]], columns: dict[str, str]) -> pa.Table:
    # Column by column: several times faster than pa.Table.from_pylist on 100,000 rows.
    return pa.Table.from_pydict({name: [row[name] for row in rows] for name in columns}, schema=_schema(columns))


def _insert(con: duckdb.DuckDBPyConnection, runs: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    if not runs:
        return
    records = _arrow([run for run, _ in runs], RUN_COLUMNS)
    rows = _arrow([row for _, rows in runs for row in rows], RESULT_COLUMNS)
    ids = pa.table({"run_id": [run["run_id"] for run, _ in runs]})
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("incoming_ids", ids)
        con.register("incoming_runs", records)
        con.register("incoming_results", rows)
        con.execute("DELETE FROM results WHERE run_id IN (SELECT run_id FROM incoming_ids)")
        con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM incoming_ids)")
        con.execute(f"INSERT INTO runs SELECT {', '.join(RUN_COLUMNS)} FROM incoming_runs")
        con.execute(f"INSERT INTO results SELECT {', '.join(RESULT_COLUMNS)} FROM incoming_results")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for view in ("incoming_ids", "incoming_runs", "incoming_results"):
            con.unregister(view)
