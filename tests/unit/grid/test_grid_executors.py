"""Grids on the tiny model: local worker processes and Ray give identical results rows; a killed
grid finishes only its missing runs; failed runs are retried with every log kept; a Slurm
array is submitted with the grid's resources (through a fake sbatch)."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiment_files import write_config
from xstilts.cli.commands import app
from xstilts.config.grid import load_grid
from xstilts.errors import XstiltsError
from xstilts.executors.backends import LocalExecutor, RayExecutor, SlurmExecutor
from xstilts.executors.grid_runner import grid_progress, run_grid
from xstilts.executors.jobs import RunJob
from xstilts.store.results import ResultsStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[3]
ROWS = "SELECT run_id, run_name, phase, task, language, metric, value FROM results ORDER BY ALL"

TARGETS = """
  target:
    - {phases.1.task: xnli, phases.2.task: xnli}
    - {name: copa, phases.1.task: xcopa, phases.2.task: xcopa, phases.2.languages: [sw]}"""


def _grid_file(folder: Path, model_dir: Path, data_dir: Path, axes: str = TARGETS, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder / "base.yaml", f"""
name: g
model: {model_dir}
seed: 1
max_length: 32
output_dir: {folder / 'runs'}
data: {{dir: {data_dir}}}
keep_models: none
phases:
  - {{name: intermediate, task: sst2, epochs: 1, batch_size: 4, lr: 1.0e-3, dev_max_examples: 0}}
  - {{name: target, task: xnli, epochs: 1, batch_size: 8, lr: 1.0e-3}}
  - {{name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}}
""")
    return write_config(folder / "grid.yaml", f"""base: base.yaml
axes:
  phases.0.task: [sst2, qqp]
  seed: [1, 2]{axes}
{extra}""")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, tiny_data_writer) -> Path:
    return tiny_data_writer(tmp_path_factory.mktemp("grid") / "data")


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory, tiny_model_dir, data_dir):
    """The 2x2x2 grid run by two local worker processes: (grid, result)."""
    grid = load_grid(_grid_file(tmp_path_factory.mktemp("local"), tiny_model_dir, data_dir))
    return grid, run_grid(grid, LocalExecutor(workers=2))


def test_local_workers_run_every_run_once_into_the_store(local_grid):
    grid, result = local_grid
    assert len(grid.runs) == 8 and sorted(result.done) == sorted(r.name for r in grid.runs)
    assert result.failed == [] and result.skipped == []
    store = ResultsStore(grid.store)
    # Per run: zero-shot accuracy per language (xnli: en, de; xcopa: sw) and the target's dev score.
    assert store.query("SELECT target, count(*) FROM results GROUP BY target ORDER BY target")[1] == [
        ("xcopa", 8), ("xnli", 12)]
    assert store.query("SELECT count(DISTINCT run_id) FROM results")[1] == [(8,)]
    progress, statuses = grid_progress(grid)
    assert set(statuses.values()) == {"done"} and progress.seconds_left() == 0
    run_dir = grid.runs[0].run_dir
    assert not (run_dir / "target" / "model").exists()  # keep_models: none
    assert "keep_models: none" in (run_dir / "target" / "MODEL_NOT_KEPT").read_text()
    assert (run_dir / "logs" / "attempt-1.log").is_file()
    again = run_grid(grid, LocalExecutor(workers=2))  # every identity has a result: nothing runs
    assert len(again.skipped) == 8 and again.done == []


def test_status_and_results_commands(local_grid):
    grid, _ = local_grid
    runner = CliRunner()
    status = runner.invoke(app, ["grid", "status", str(grid.path)], env={"COLUMNS": "200"})
    assert status.exit_code == 0, status.output
    assert "g-qqp-seed2-copa" in status.output and "8/8 done, 0 running, 0 failed, 0 pending" in status.output
    pivot = runner.invoke(app, ["results", "--store", str(grid.store), "--pivot", "intermediate-target"])
    assert pivot.exit_code == 0, pivot.output
    # Both seeds of sst2 -> xcopa, from the store: the mean of their zero-shot (sw) accuracies.
    expected = ResultsStore(grid.store).query("SELECT 100 * avg(value) FROM results WHERE intermediate = 'sst2' "
                                              "AND task = 'xcopa' AND metric = 'accuracy'")[1][0][0]
    assert re.search(rf"│ sst2 +│ +{expected:.1f} │", pivot.output), pivot.output
    sql = runner.invoke(app, ["results", "--store", str(grid.store), "--sql", "SELECT count(*) AS n FROM runs"])
    assert sql.exit_code == 0 and "│ 8 │" in sql.output
    wrong = runner.invoke(app, ["results", "--store", str(grid.store), "--pivot", "language-runs"])
    assert isinstance(wrong.exception, XstiltsError) and str(wrong.exception) == (
        "--pivot language-runs: allowed: intermediate-target, language-run. Did you mean 'language-run'?")


def test_ray_gives_the_rows_local_workers_give(local_grid, tmp_path, tiny_model_dir, data_dir):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'xstilts[grid]')")
    grid, _ = local_grid
    on_ray = load_grid(_grid_file(tmp_path, tiny_model_dir, data_dir))
    assert on_ray.store != grid.store
    result = run_grid(on_ray, RayExecutor(None, on_ray.settings.resources, workers=2))
    assert len(result.done) == 8
    assert ResultsStore(on_ray.store).query(ROWS)[1] == ResultsStore(grid.store).query(ROWS)[1]


def test_a_killed_grid_finishes_only_its_missing_runs(tmp_path, tiny_model_dir, data_dir):
    grid_file = _grid_file(tmp_path, tiny_model_dir, data_dir, axes="")
    grid = load_grid(grid_file)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-m", "xstilts.cli", "grid", "run", str(grid_file)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = ResultsStore(grid.store)
    deadline = time.monotonic() + 600
    while len(store.finished_run_ids()) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    finished = {r.name for r in grid.runs if r.run_id in store.finished_run_ids()}
    assert 2 <= len(finished) < 4
    progress, statuses = grid_progress(grid)
    assert progress.done == len(finished) and progress.running == 0  # the killed process runs nothing
    result = run_grid(grid, LocalExecutor(workers=1))
    assert set(result.skipped) == finished and set(result.done) == {r.name for r in grid.runs} - finished
    logs = {run.name: sorted(p.name for p in (run.run_dir / "logs").iterdir()) for run in grid.runs}
    assert all(logs[name] == ["attempt-1.log"] for name in finished)  # finished runs were not run again
    # The run the kill cut off (if one had started) resumed in a second attempt; the others ran once.
    assert sorted(map(len, logs.values())) in ([1, 1, 1, 1], [1, 1, 1, 2])
    assert store.query("SELECT count(DISTINCT run_id), count(*) FROM results")[1] == [(4, 12)]


def test_a_failed_run_is_retried_and_every_attempt_keeps_its_log(tmp_path, tiny_model_dir, tiny_data_writer):
    data = tiny_data_writer(tmp_path / "data")
    (data / "qqp" / "train.json").unlink()  # the qqp runs fail before training
    grid = load_grid(_grid_file(tmp_path, tiny_model_dir, data, axes="", extra="retries: 1"),
                     ["phases.1.epochs=1"])
    grid = type(grid)(grid.path, grid.settings, [r for r in grid.runs if r.axes["seed"] == "seed1"])
    result = run_grid(grid, LocalExecutor(workers=1))
    assert result.done == ["g-sst2-seed1"] and result.failed == ["g-qqp-seed1"]
    logs = grid.runs[1].run_dir / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["attempt-1.log", "attempt-2.log"]
    assert "qqp/train.json" in (logs / "attempt-2.log").read_text()
    assert grid_progress(grid)[1] == {"g-sst2-seed1": "done", "g-qqp-seed1": "failed"}


def test_slurm_submits_one_array_with_the_grids_resources(tmp_path, tiny_model_dir, data_dir, monkeypatch):
    pytest.importorskip("submitit", reason="submitit is not installed (pip install 'xstilts[grid]')")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\ncp \"$1\" {tmp_path / 'script.sh'}\n"
                      "echo 'Submitted batch job 4242'\n")
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "srun").symlink_to("/bin/true")  # submitit looks for srun to know it is on a Slurm cluster
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    grid = load_grid(_grid_file(tmp_path, tiny_model_dir, data_dir, extra="""resources: {cpus: 2, gpus: 1}
slurm: {partition: gpu, time_min: 90, mem_gb: 16, array_parallelism: 3, extra: {account: nlp}}"""))
    executor = SlurmExecutor(grid.settings.slurm, grid.settings.resources, tmp_path / "slurm", "stilts")
    jobs = executor.submit([RunJob.of(run, grid.store, 2) for run in grid.runs])
    assert [job.job_id for job in jobs] == [f"4242_{i}" for i in range(8)]
    script = (tmp_path / "script.sh").read_text()
    for line in ("#SBATCH --array=0-7%3", "#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --mem=16GB",
                 "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=2", "#SBATCH --account=nlp",
                 "#SBATCH --job-name=stilts"):
        assert line in script, line
    assert "submitit.core._submit" in script
    assert (tmp_path / "args").read_text().split() == [str(next((tmp_path / "slurm").rglob("*.sh")))]
