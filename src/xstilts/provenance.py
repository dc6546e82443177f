"""Where a result came from: the code's commit, the command, the machine and when, recorded in
every run's metrics.json so that a published table can name them (scripts/results.py)."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path


def source_commit() -> str | None:
    """The git commit of the xstilts source tree, with "+changes" when tracked files differ
    from it; None outside a git checkout (an installed wheel)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no", "--", str(here))
    return commit + ("+changes" if changed else "")


def machine() -> dict:
    """CPU model, core count and the threads torch may use (OMP_NUM_THREADS)."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text(errors="replace").splitlines()
                    if line.startswith("model name")), cpu)
    return {"cpu": cpu, "cores": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def command_line() -> str:
    """The command as typed, with the entry point named `xstilts` (also under `python -m xstilts.cli`)."""
    return shlex.join(["xstilts", *sys.argv[1:]])
