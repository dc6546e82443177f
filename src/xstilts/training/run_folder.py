"""The run folder `output_dir/<name>`: whose it is, who holds it, what may be deleted.

A folder is an xstilts run once its first phase starts: then `config.yaml` (the resolved
config) and the marker `.xstilts-run` are written, and from then on a rerun must match that
config. One process at a time holds a run folder (an flock on `.xstilts.lock`, released by the
kernel when the process dies, so a killed run never blocks its resume). `--force` empties only
a folder that is a run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from filelock import FileLock, Timeout
from pydantic import ValidationError

from xstilts import __version__
from xstilts.config import ExperimentConfig, resolved_config
from xstilts.errors import XstiltsError
from xstilts.io import write_json_atomic, write_text_atomic

CONFIG_FILE = "config.yaml"
MARKER_FILE = ".xstilts-run"
LOCK_FILE = ".xstilts.lock"
# What an executor keeps in a run folder it starts (the run's status record and each attempt's
# log): they neither make a folder a run nor keep it from being one, and --force keeps them.
RUN_RECORD = "grid-run.json"
LOGS_DIR = "logs"
_BESIDE_THE_RUN = {LOCK_FILE, RUN_RECORD, LOGS_DIR}

# Config keys that may differ between a run and its resumption: where the runs and the data
# folder are (the same data under another path) and which models are kept on disk. Everything
# else, `data.bad_rows` included, is part of the results.
_RESUME_NEUTRAL = {"output_dir": None, "data": {"dir": None}, "keep_models": None}


def comparable(config: dict) -> dict:
    """The config as today's schema reads it (a key added since the run was made takes its
    default, which is what the run used), without the keys a resumption may spell differently."""
    try:
        config = resolved_config(ExperimentConfig.model_validate(config))
    except ValidationError:
        pass  # a config today's schema refuses is compared as it was written, and differs
    def without(values: dict, neutral: dict) -> dict:
        return {k: (without(v, neutral[k]) if isinstance(neutral.get(k), dict) and isinstance(v, dict) else v)
                for k, v in values.items() if not (k in neutral and neutral[k] is None)}
    return without(config, _RESUME_NEUTRAL)


def _record_holder(fd: int) -> None:
    """Write who holds the lock into the lock file (read by a refused second process)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)


def _holder(lock_file: Path) -> str:
    try:
        holder = json.loads(lock_file.read_text(encoding="utf-8"))
        return f"pid {holder['pid']} on host {holder['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet recorded its pid"


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for the block; refuse in one line when another process holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK_FILE, timeout=0, on_acquired=_record_holder)
    try:
        lock.acquire()
    except Timeout:
        raise XstiltsError(f"{run_dir} is in use by another xstilts run ({_holder(run_dir / LOCK_FILE)}); "
                           "wait for it to finish or stop it, or give this run another name") from None
    try:
        yield
    finally:
        lock.release()


def recorded_config(run_dir: Path) -> dict | None:
    """The config a run folder's first phase was started with, or None before that."""
    saved = run_dir / CONFIG_FILE
    if not saved.is_file():
        return None
    try:
        config = yaml.safe_load(saved.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise XstiltsError(f"{saved}: not a readable run config ({str(exc).splitlines()[0]}); "
                           "restore it, or pass --force to start the run over") from None
    if not isinstance(config, dict):
        raise XstiltsError(f"{saved}: not a run config (expected a mapping); restore it, or pass --force to start over")
    return config


def prepare(run_dir: Path, resolved: dict, force: bool) -> None:
    """Check that `run_dir` may hold this run, emptying it first with `force`: a folder that is
    not an xstilts run is never used nor deleted, and a run of another config is refused."""
    entries = sorted(p for p in run_dir.iterdir() if p.name not in _BESIDE_THE_RUN) if run_dir.is_dir() else []
    saved = recorded_config(run_dir) if entries else None
    # A run folder of an older xstilts has no marker; its config, identical to this one, identifies it.
    is_run = (run_dir / MARKER_FILE).is_file() or (saved is not None and comparable(saved) == comparable(resolved))
    if entries and not is_run:
        raise XstiltsError(f"{run_dir} exists and is not an xstilts run folder (no {MARKER_FILE} beside {CONFIG_FILE}); "
                           f"{'--force deletes only run folders: ' if force else ''}move it away or give the run "
                           "another name (name: or --set name=...)")
    if force:
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        return
    if saved is not None and comparable(saved) != comparable(resolved):
        before, now = comparable(saved), comparable(resolved)
        differ = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        raise XstiltsError(f"{run_dir} holds a run with a different config (differs at: {', '.join(differ)}); "
                           "pass --force to start it over, or give the run another name")


def bind(run_dir: Path, resolved: dict) -> dict:
    """Make the folder this run's, as its first phase starts: write its config and marker
    unless it has them. Returns the recorded config (a finished run's is never rewritten)."""
    saved = recorded_config(run_dir)
    if saved is None:
        write_text_atomic(run_dir / CONFIG_FILE, yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True))
        saved = resolved
    if not (run_dir / MARKER_FILE).is_file():
        write_json_atomic(run_dir / MARKER_FILE, {"xstilts_version": __version__})
    return saved


def check_inside(run_dir: Path, paths: list[Path]) -> None:
    """Every path a run writes or deletes lies inside its run folder (symlinks followed)."""
    root = run_dir.resolve()
    for path in paths:
        if not path.resolve().is_relative_to(root):
            raise XstiltsError(f"{path} resolves to {path.resolve()}, outside the run folder {run_dir}; "
                               "a run writes only inside its folder")
