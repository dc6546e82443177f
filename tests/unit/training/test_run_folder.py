"""The run folder: whose it is (never a folder that is not a run, never a path outside it), one
process at a time (a stale lock of a killed process does not count), a config bound only once a
phase starts and never rewritten afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiment_files import experiment_config, write_config, xstilts_in_process
from xstilts.config import load_config, load_experiments
from xstilts.errors import XstiltsError
from xstilts.training import pipeline, run_folder
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PHASES = """  - {name: target, task: xnli, batch_size: 4, lr: 1.0e-3, checkpoint_every: 1}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}
"""


def _config(tmp_path, model_dir, data_dir, name="r") -> Path:
    return experiment_config(tmp_path, name, model_dir, data_dir, PHASES)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- --force and foreign folders


@pytest.mark.parametrize("force", [True, False])
def test_a_folder_that_is_not_a_run_is_never_used_nor_deleted(tmp_path, tiny_model_dir, tiny_data_dir, force):
    thesis = tmp_path / "runs" / "r" / "thesis.tex"
    thesis.parent.mkdir(parents=True)
    thesis.write_text("years of work")
    with pytest.raises(XstiltsError, match="runs/r exists and is not an xstilts run folder") as raised:
        run_experiment(load_config(_config(tmp_path, tiny_model_dir, tiny_data_dir)), force=force)
    assert ("--force deletes only run folders" in str(raised.value)) == force
    assert thesis.read_text() == "years of work"
    assert sorted(p.name for p in thesis.parent.iterdir()) == [".xstilts.lock", "thesis.tex"]


def test_force_starts_a_run_over(tmp_path, tiny_model_dir, tiny_data_dir):
    config = _config(tmp_path, tiny_model_dir, tiny_data_dir)
    run_experiment(load_config(config))
    run = tmp_path / "runs" / "r"
    (run / "target" / "stray.txt").write_text("left by the first run")
    run_experiment(load_config(config, ["seed=9"]), force=True)
    assert not (run / "target" / "stray.txt").exists()
    assert "seed: 9" in (run / "config.yaml").read_text()


# ---------------------------------------------------------------- names and paths


@pytest.mark.parametrize("key", ["name", "phases.0.name"])
@pytest.mark.parametrize("value", ["../x", "/tmp/elsewhere", "a/b", ".hidden"])
def test_names_that_are_paths_are_refused(tmp_path, key, value):
    run_name, phase_name = (value, "t") if key == "name" else ("c", value)
    config = write_config(tmp_path / "c.yaml", f"name: '{run_name}'\nphases: [{{name: '{phase_name}', task: xnli}}]\n")
    with pytest.raises(XstiltsError, match=f"c.yaml: {key}: .*'{value}' is not a plain name"):
        load_config(config)


def test_validate_refuses_a_path_as_a_phase_name_in_one_line(tmp_path):
    config = write_config(tmp_path / "c.yaml", "name: c\nphases: [{name: ../x, task: xnli}]\n")
    result = xstilts_in_process("validate", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "c.yaml: phases.0.name: " in line and "'../x' is not a plain name" in line


def test_variant_names_that_are_paths_are_refused(tmp_path):
    config = write_config(tmp_path / "c.yaml", "name: c\nphases: [{name: t, task: xnli}]\n"
                                               "variants: {'../../x': {seed: 2}}\n")
    with pytest.raises(XstiltsError, match="name: .*'c-../../x' is not a plain name"):
        load_experiments(config)


@pytest.mark.parametrize("name", ["config.yaml", "metrics.json", "summary.md"])
def test_a_phase_cannot_take_the_place_of_a_run_file(tmp_path, name):
    config = write_config(tmp_path / "c.yaml", f"name: c\nphases: [{{name: '{name}', task: xnli}}]\n")
    with pytest.raises(XstiltsError, match=f"phases.0.name: .*'{name}' is an entry of the run folder"):
        load_config(config)


def test_a_phase_folder_linked_outside_the_run_is_refused(tmp_path, tiny_model_dir, tiny_data_dir):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = _config(tmp_path, tiny_model_dir, tiny_data_dir)
    run_experiment(load_config(config, ["phases.1.languages=[en]"]))  # a run of this name exists ...
    run = tmp_path / "runs" / "r"
    import shutil

    shutil.rmtree(run / "zero-shot")
    (run / "zero-shot").symlink_to(elsewhere)  # ... and one phase folder now points outside it
    with pytest.raises(XstiltsError, match="zero-shot resolves to .*elsewhere, outside the run folder"):
        run_experiment(load_config(config, ["phases.1.languages=[en]"]))
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------- one process per run


HOLD = """
import sys, time
from pathlib import Path
from xstilts.training import run_folder
with run_folder.locked(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(run: Path, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "holding"
    return process


def test_a_second_process_on_a_run_is_refused_with_the_holders_pid_and_host(tmp_path, tiny_model_dir, tiny_data_dir):
    run = tmp_path / "runs" / "r"
    holder = _holder(run, 60)
    try:
        with pytest.raises(XstiltsError, match=f"runs/r is in use by another xstilts run \\(pid {holder.pid} "
                                               f"on host {socket.gethostname()}\\)"):
            run_experiment(load_config(_config(tmp_path, tiny_model_dir, tiny_data_dir)))
        assert not (run / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()


def test_the_stale_lock_of_a_killed_process_does_not_block_the_resume(tmp_path, tiny_model_dir, tiny_data_dir):
    run = tmp_path / "runs" / "r"
    holder = _holder(run, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert str(holder.pid) in (run / run_folder.LOCK_FILE).read_text()  # the lock file is still there
    started = time.perf_counter()
    summary = run_experiment(load_config(_config(tmp_path, tiny_model_dir, tiny_data_dir)))
    assert summary["phases"]["zero-shot"]["languages"]["de"]["n"] == 3
    assert time.perf_counter() - started < 60
    assert str(os.getpid()) in (run / run_folder.LOCK_FILE).read_text()


# ---------------------------------------------------------------- the recorded config


def test_a_finished_runs_config_and_results_are_not_rewritten(tmp_path, tiny_model_dir, tiny_data_dir):
    config = _config(tmp_path, tiny_model_dir, tiny_data_dir)
    run_experiment(load_config(config))
    run = tmp_path / "runs" / "r"
    before = _files(run)
    # Results produced with bad_rows: fail are not relabelled as produced with skip.
    with pytest.raises(XstiltsError, match="different config \\(differs at: data\\).*--force"):
        run_experiment(load_config(config, ["data.bad_rows=skip"]))
    # The same data under another spelling of its folder is the same run: nothing is rewritten.
    summary = run_experiment(load_config(config, [f"data.dir={tiny_data_dir}/."]))
    assert summary["config"]["data"]["dir"] == str(tiny_data_dir)  # the recorded config
    assert _files(run) == before


def test_a_run_that_fails_before_its_first_phase_leaves_no_binding_config(tmp_path, tiny_model_dir, tiny_data_dir,
                                                                          monkeypatch):
    config = _config(tmp_path, tiny_model_dir, tiny_data_dir)
    run = tmp_path / "runs" / "r"
    with pytest.raises(XstiltsError, match="could not load model '.*missing-model'"):
        run_experiment(load_config(config, [f"model={tmp_path / 'missing-model'}"]))
    monkeypatch.setattr(pipeline, "_tracker_available", lambda name: False)
    with pytest.raises(XstiltsError, match="log_with: tensorboard needs the 'tensorboard' package"):
        run_experiment(load_config(config, ["log_with=[tensorboard]"]))
    # A failure after the checks but before the first phase (accelerate refusing the precision).
    monkeypatch.setattr(pipeline, "make_accelerator", lambda cfg, run_dir: (_ for _ in ()).throw(
        XstiltsError("mixed_precision: refused")))
    with pytest.raises(XstiltsError, match="mixed_precision: refused"):
        run_experiment(load_config(config, ["seed=5"]))
    assert not (run / "config.yaml").exists()
    monkeypatch.undo()
    summary = run_experiment(load_config(config))  # the corrected command is not "a different config"
    assert summary["phases"]["zero-shot"]["languages"]["en"]["n"] == 6
    assert (run / "config.yaml").is_file() and (run / run_folder.MARKER_FILE).is_file()
