"""A run's identity: a hash of its resolved config, without the keys that do not change its
results (where it is written, how the data dir is spelled, its name, trackers, which models are
kept). Plain dicts in, a hex string out: the results store computes identities without loading
the config schema (and with it torch). Two runs with one identity measure the same thing; a grid skips a run whose identity
already has a finished result. The code version is recorded beside the identity, not hashed."""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import cache
from pathlib import Path

from xstilts import __version__

# Keys that do not change a run's results: top-level, and of each phase.
RESULT_NEUTRAL_KEYS = ("name", "output_dir", "log_with", "keep_models", "reuse_phases")
PHASE_RESULT_NEUTRAL_KEYS = ("keep_model",)
IDENTITY_LENGTH = 16  # hex digits of the sha256: 64 bits, no collision in any grid of realistic size


def identity_fields(resolved: dict) -> dict:
    """The part of a resolved config that decides a run's results."""
    kept = {k: v for k, v in resolved.items() if k not in RESULT_NEUTRAL_KEYS}
    if isinstance(kept.get("data"), dict):
        kept["data"] = {k: v for k, v in kept["data"].items() if k != "dir"}
    kept["phases"] = [{k: v for k, v in p.items() if k not in PHASE_RESULT_NEUTRAL_KEYS} for p in kept.get("phases", [])]
    return kept


def run_identity(resolved: dict) -> str:
    """The identity of a run from its resolved config (`config.plan.resolved_config`, or a run's saved one)."""
    text = json.dumps(identity_fields(resolved), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:IDENTITY_LENGTH]


@cache
def code_version() -> str:
    """The package version, with the git commit (and '-dirty' for uncommitted changes) when
    the package runs from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=here,
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}" if commit else __version__
