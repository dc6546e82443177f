"""Config files for end-to-end runs in tests (a module, not conftest: conftest names clash
across test folders)."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from xstilts.cli import main
from xstilts.training import train_phase


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def experiment_config(tmp_path: Path, name: str, model_dir: Path, data_dir: Path, phases: str,
                      seed: int = 3, max_length: int = 32) -> Path:
    """A config file for an end-to-end run on the tiny model, writing under tmp_path/runs;
    `phases` is the YAML list under `phases:`."""
    return write_config(tmp_path / f"{name}.yaml", f"""
name: {name}
model: {model_dir}
seed: {seed}
max_length: {max_length}
output_dir: {tmp_path / 'runs'}
data: {{dir: {data_dir}}}
phases:
{phases}""")


def kill_after_checkpoint(monkeypatch, when: Callable[[train_phase.TrainPhaseRunner], bool]) -> Callable[[], None]:
    """Make training stop as a killed process would (KeyboardInterrupt) right after the first
    checkpoint written when `when(runner)` holds; returns the undo, for the resume."""
    real_save = train_phase.TrainPhaseRunner._save_checkpoint

    def save_then_kill(self):
        real_save(self)
        if when(self):
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(train_phase.TrainPhaseRunner, "_save_checkpoint", save_then_kill)
    return lambda: monkeypatch.setattr(train_phase.TrainPhaseRunner, "_save_checkpoint", real_save)


def xstilts_in_process(*args: str) -> subprocess.CompletedProcess:
    """`xstilts ARGS` through the entry point's own `main` (its one-line errors and exit codes),
    in this process: a new one spends most of a short command's time importing torch. Tests of
    the installed command itself (start-up, lazy imports) start a process instead."""
    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["xstilts", *args]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(["xstilts", *args], code, out.getvalue(), err.getvalue())
