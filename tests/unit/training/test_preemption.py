"""Real processes killed: `xstilts run` on the tiny model killed with SIGKILL at several points
(after a checkpoint, while writing one, while writing a model, between phases), and stopped
with SIGTERM; rerunning the same command gives byte-identical predictions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.training.pipeline import run_experiment

PHASES = """  - {name: intermediate, task: sst2, epochs: 2, batch_size: 2, lr: 1.0e-3, checkpoint_every: 1}
  - {name: target, task: xnli, epochs: 2, batch_size: 4, lr: 1.0e-3, checkpoint_every: CHECKPOINT_EVERY, eval_every: 2}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}
"""

# `xstilts run` in a process that sends itself `signal` where the test says: when a method of
# the train phase is called for the n-th time in the phase named.
RUN_UNTIL = """
import os, signal, sys
from xstilts import cli
from xstilts.models import multitask
from xstilts.training import train_phase, pipeline
phase, where, n, signum = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
owner_name, where = where.split(".")
owner = {"multitask": multitask, "train_phase": train_phase, "TrainPhaseRunner": train_phase.TrainPhaseRunner}[owner_name]
real = getattr(owner, where)
calls = []
current = {"phase": None}
real_setup = train_phase.TrainPhaseRunner.setup
def setup(self):
    current["phase"] = self.cfg.name
    return real_setup(self)
def hooked(*args, **kwargs):
    if current["phase"] == phase:
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signum)
    return real(*args, **kwargs)
train_phase.TrainPhaseRunner.setup = setup
setattr(owner, where, hooked)
sys.argv = ["xstilts", "run", sys.argv[1]]
cli.main()
"""


def _run(config: Path, *hook: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    code = RUN_UNTIL if hook else "import sys; from xstilts import cli; sys.argv = ['xstilts', 'run', sys.argv[1]]; cli.main()"
    return subprocess.run([sys.executable, "-c", code, str(config), *hook], capture_output=True, text=True,
                          env=env, timeout=300)


def _predictions(run: Path) -> dict[str, bytes]:
    folder = run / "zero-shot" / "predictions" / "xnli"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _config(tmp_path, model_dir, data_dir, name, checkpoint_every=1) -> Path:
    return experiment_config(tmp_path, name, model_dir, data_dir,
                             PHASES.replace("CHECKPOINT_EVERY", str(checkpoint_every)), seed=7)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, tiny_data_writer) -> Path:
    """One data folder for every run here: its path is part of each prediction's id."""
    return tiny_data_writer(tmp_path_factory.mktemp("preemption") / "data")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model_dir, data_dir, one_torch_thread) -> dict[str, bytes]:
    """Predictions of the uninterrupted run, in this process (one thread, as the runs here)."""
    tmp = tmp_path_factory.mktemp("reference")
    run_experiment(load_config(_config(tmp, tiny_model_dir, data_dir, "whole")))
    return _predictions(tmp / "runs" / "whole")


# (phase, function, call): before the first phase's third checkpoint; with the second phase's
# second checkpoint written into its staging folder, not yet swapped in; with the best model
# written into its staging folder.
KILLS = [
    ("intermediate", "TrainPhaseRunner._save_checkpoint", "3"),
    ("target", "train_phase.replace_dir_atomic", "2"),
    ("target", "multitask.replace_dir_atomic", "1"),
]


def test_kill_9_at_several_points_then_resume_gives_identical_predictions(tmp_path, tiny_model_dir, data_dir, reference):
    config = _config(tmp_path, tiny_model_dir, data_dir, "killed")
    run = tmp_path / "runs" / "killed"
    for phase, where, call in KILLS:
        killed = _run(config, phase, where, call, str(int(signal.SIGKILL)))
        assert killed.returncode == -signal.SIGKILL, (where, killed.stderr)
    assert (run / "intermediate" / "DONE").is_file() and not (run / "target" / "DONE").exists()
    resumed = _run(config)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming phase 'target'" in resumed.stderr
    assert _predictions(run) == reference


def test_sigterm_writes_a_checkpoint_and_the_resume_is_identical(tmp_path, tiny_model_dir, data_dir, reference):
    # Checkpoints only every 100 steps: the one on disk can only be the interruption's.
    config = _config(tmp_path, tiny_model_dir, data_dir, "preempted", checkpoint_every=100)
    run = tmp_path / "runs" / "preempted"
    stopped = _run(config, "target", "TrainPhaseRunner._optimizer_step", "3", str(int(signal.SIGTERM)))
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert stopped.stderr.rstrip().endswith("interrupted; rerun the same command to resume")
    assert "Traceback" not in stopped.stderr
    state = json.loads((run / "target" / "checkpoint" / "trainer_state.json").read_text())
    assert state["optimizer_steps"] == 3  # the step running when the signal came was finished first
    resumed = _run(config)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming phase 'target' at optimizer step 3" in resumed.stderr
    assert _predictions(run) == reference
