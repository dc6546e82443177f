"""Executors: where a grid's jobs run, behind one interface.

    local   this machine: in this process one after another, or N worker processes
    ray     tasks on a Ray cluster (an existing one, or a local Ray started for the grid); each
            run requests the grid's `resources` (CPUs, GPUs)
    slurm   one Slurm job array through submitit; partition, time, GPUs and memory from the
            grid's `slurm` settings

Every executor runs `execute_job` on each job and hands each outcome to `on_outcome` as it
arrives. Inside one run, several GPUs remain accelerate's job (`accelerate launch`), not ours.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Protocol

from xstilts.config.grid import RunResources, SlurmSettings
from xstilts.errors import XstiltsError
from xstilts.executors.jobs import JobOutcome, RunJob, execute_job
from xstilts.training.run_folder import LOGS_DIR

OnOutcome = Callable[[JobOutcome], None]
EXECUTORS = ("local", "ray", "slurm")
SLURM_POLL_S = 30


class Executor(Protocol):
    @property
    def parallelism(self) -> int:
        """Runs at once, for the estimate of time left."""

    def run(self, jobs: list[RunJob], on_outcome: OnOutcome) -> list[JobOutcome]:
        """Run every job; outcomes in the order they finished."""


def _lost(job: RunJob, error: str) -> JobOutcome:
    """The outcome of a job whose worker died before it could report (killed, out of memory)."""
    return JobOutcome(job.name, "failed", 0.0, str(job.run_dir / LOGS_DIR / f"attempt-{job.attempt}.log"), error)


class LocalExecutor:
    """One worker: the jobs in this process, in turn. Several: that many worker processes, each
    running job after job (imports are paid once per worker, not per run)."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise XstiltsError(f"--workers {workers}: give 1 or more")
        self.workers = workers

    @property
    def parallelism(self) -> int:
        return self.workers

    def run(self, jobs: list[RunJob], on_outcome: OnOutcome) -> list[JobOutcome]:
        outcomes = []
        if self.workers == 1:
            for job in jobs:
                outcomes.append(execute_job(job))
                on_outcome(outcomes[-1])
            return outcomes
        # spawn: a forked copy of a process that already ran torch can deadlock in its thread pools.
        with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = {pool.submit(execute_job, job): job for job in jobs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as exc:  # the worker process died (BrokenProcessPool)
                        outcome = _lost(job, f"worker process lost: {type(exc).__name__}: {exc}")
                    outcomes.append(outcome)
                    on_outcome(outcome)
        return outcomes


class RayExecutor:
    """Ray tasks, each requesting the grid's CPUs and GPUs. With no address, a local Ray is
    started for the grid (`workers` CPUs, default all) and stopped after it."""

    def __init__(self, address: str | None, resources: RunResources, workers: int | None = None):
        self.address, self.resources, self.workers = address, resources, workers
        self._cpus: float | None = None

    @property
    def parallelism(self) -> int:
        cpus = self._cpus or self.workers or os.cpu_count() or 1
        return max(1, int(cpus // self.resources.cpus))

    def run(self, jobs: list[RunJob], on_outcome: OnOutcome) -> list[JobOutcome]:
        try:
            import ray  # optional and slow to import (the `grid` extra): only for --executor ray
        except ImportError:
            raise XstiltsError("--executor ray needs the 'ray' package: pip install 'xstilts[grid]'") from None
        started_here = not ray.is_initialized()
        if started_here:
            # A Ray started for the grid listens on loopback only: nothing leaves this machine.
            local = {"num_cpus": self.workers, "_node_ip_address": "127.0.0.1"} if self.address is None else {}
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, **local)
        try:
            self._cpus = ray.cluster_resources().get("CPU")
            task = ray.remote(num_cpus=self.resources.cpus, num_gpus=self.resources.gpus, max_retries=0)(execute_job)
            pending = {task.remote(job): job for job in jobs}
            outcomes = []
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ready[0])
                try:
                    outcome = ray.get(ready[0])
                except ray.exceptions.RayError as exc:  # the task's worker died
                    outcome = _lost(job, f"ray task lost: {str(exc).splitlines()[0]}")
                outcomes.append(outcome)
                on_outcome(outcome)
            return outcomes
        finally:
            if started_here:
                ray.shutdown()


class SlurmExecutor:
    """One Slurm job array (submitit): every run an array task with the grid's resources."""

    def __init__(self, settings: SlurmSettings, resources: RunResources, folder: Path, name: str):
        self.settings, self.resources, self.name = settings, resources, name
        self.folder = settings.folder or folder

    @property
    def parallelism(self) -> int:
        return self.settings.array_parallelism or 256  # submitit's default array limit

    def submit(self, jobs: list[RunJob]) -> list:
        """Submit the jobs as one array; submitit's jobs (ids, states, results)."""
        try:
            import submitit  # optional (the `grid` extra): only for --executor slurm
        except ImportError:
            raise XstiltsError("--executor slurm needs the 'submitit' package: pip install 'xstilts[grid]'") from None
        if shutil.which("sbatch") is None or shutil.which("srun") is None:
            raise XstiltsError("--executor slurm: no sbatch/srun on this machine's PATH; run the grid from a "
                               "Slurm login node (or --executor local / ray)")
        executor = submitit.SlurmExecutor(folder=str(self.folder / "%j"))
        parameters = {"job_name": self.name, "time": self.settings.time_min, "cpus_per_task": math.ceil(self.resources.cpus),
                      "array_parallelism": self.parallelism, "additional_parameters": dict(self.settings.extra)}
        if self.settings.partition:
            parameters["partition"] = self.settings.partition
        gpus = self.settings.gpus_per_node or math.ceil(self.resources.gpus)
        if gpus:
            parameters["gpus_per_node"] = gpus
        if self.settings.mem_gb:
            parameters["mem"] = f"{self.settings.mem_gb:g}GB"
        executor.update_parameters(**parameters)
        return executor.map_array(execute_job, jobs)

    def run(self, jobs: list[RunJob], on_outcome: OnOutcome) -> list[JobOutcome]:
        submitted = dict(zip(self.submit(jobs), jobs))
        outcomes = []
        while submitted:
            for slurm_job in [j for j in submitted if j.done()]:
                job = submitted.pop(slurm_job)
                try:
                    outcome = slurm_job.result()
                except Exception as exc:  # submitit's FailedJobError / UncompletedJobError: the task died
                    outcome = _lost(job, f"slurm job {slurm_job.job_id} failed: {str(exc).splitlines()[0]}")
                outcomes.append(outcome)
                on_outcome(outcome)
            if submitted:
                time.sleep(SLURM_POLL_S)
        return outcomes
