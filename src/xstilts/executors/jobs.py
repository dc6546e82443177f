"""One run of a grid as a job any executor can run: what it needs travels with it (the resolved
config, the store's path), and what it did stays in its run folder.

    runs/<name>/grid-run.json           identity, code version, axes, status, attempt, host, times
    runs/<name>/logs/attempt-<n>.log    everything the attempt printed (kept for every attempt)

A finished run adds its rows to the store; the pipeline resumes a run that was cut off. A
study's attacks on the run are part of its job, so they run where the run did (a Slurm node,
not the machine that submitted it); a job for a run already finished makes its attacks only.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch
from accelerate.state import AcceleratorState

from xstilts.config import ExperimentConfig, resolved_config
from xstilts.config.grid import GridRun
from xstilts.io import write_json_atomic
from xstilts.run_identity import code_version
from xstilts.store.results import ResultsStore
from xstilts.store.rows import RUN_RECORD, read_run_record
from xstilts.studies.runner import run_attacks
from xstilts.studies.schema import AttackSpec
from xstilts.training.pipeline import check_config, run_plan
from xstilts.training.run_folder import LOGS_DIR


@dataclass(frozen=True)
class RunJob:
    name: str
    run_id: str
    config: dict[str, Any]  # the resolved config
    axes: dict[str, str]
    store: str
    attempt: int  # 1 for a run's first attempt; earlier attempts' logs stay
    cpus: float = 1
    attacks: tuple[AttackSpec, ...] = ()  # a study's attacks on the run (each skipped when saved)
    trained: bool = False  # the run is finished and stored already: the job makes its attacks only

    @property
    def run_dir(self) -> Path:
        return Path(self.config["output_dir"]) / self.name

    @classmethod
    def of(cls, run: GridRun, store: Path, cpus: float, attacks: tuple[AttackSpec, ...] = (),
           trained: bool = False) -> RunJob:
        attempt = read_run_record(run.run_dir).get("attempt", 0) + 1
        return cls(run.name, run.run_id, resolved_config(run.config), run.axes, str(store), attempt, cpus,
                   attacks, trained)


@dataclass(frozen=True)
class JobOutcome:
    name: str
    status: Literal["done", "failed"]
    seconds: float
    log: str
    error: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def execute_job(job: RunJob) -> JobOutcome:
    """Run one job where the executor placed it (this process, a worker process, a Ray task, a
    Slurm array task): its output goes to its log, its results to the store."""
    log = job.run_dir / LOGS_DIR / f"attempt-{job.attempt}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    record = {"run_id": job.run_id, "name": job.name, "code_version": code_version(), "axes": job.axes,
              "attempt": job.attempt, "host": socket.gethostname(), "pid": os.getpid(), "started": _now()}
    write_json_atomic(job.run_dir / RUN_RECORD, {**record, "status": "running"})
    start, error = time.monotonic(), None
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(job.cpus)))
    with open(log, "w", encoding="utf-8") as handle, redirect_stdout(handle), redirect_stderr(handle):
        try:
            config = ExperimentConfig.model_validate(job.config)
            if not job.trained:
                run_plan(check_config(config))
                ResultsStore(Path(job.store)).add_run_dir(job.run_dir)
            run_attacks(job.run_dir, config, job.attacks)
            record["finished"] = _now()
            write_json_atomic(job.run_dir / RUN_RECORD, {**record, "status": "done"})
        except Exception as exc:  # a failed run is reported and retried, never the end of the grid
            traceback.print_exc(file=handle)
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            torch.set_num_threads(threads)
            # accelerate keeps one state per process; the next run in this worker may differ in precision.
            AcceleratorState._reset_state(reset_partial_state=True)
    if error is not None:
        write_json_atomic(job.run_dir / RUN_RECORD, {**record, "status": "failed", "error": error,
                                                     "finished": _now()})
    return JobOutcome(job.name, "failed" if error else "done", time.monotonic() - start, str(log), error)
