"""Reusing a finished training phase of another run in the same output folder.

A training phase's result depends only on what comes before and in it: the run-level settings
that change results (model, seed, lengths, data settings), every phase up to and including it,
and the task specs' versions (each phase seeds itself and starts from the previous phase's
model). Runs that share such a prefix, e.g. one intermediate task crossed with four targets in a
grid or study, would train the same phase again and again. Each finished training phase records
the hash of its prefix in PHASE_ID; a run about to train a phase whose hash a finished phase of a
sibling run carries copies that phase folder instead (its model, checksums, metrics and curves),
and its metrics name where it came from. `reuse_phases: false` turns this off.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from xstilts.config.plan import PhasePlan, RunPlan
from xstilts.config.schema import resolved_config
from xstilts.console import console
from xstilts.io import write_json_atomic, write_text_atomic
from xstilts.run_identity import run_identity
from xstilts.training.train_phase import DONE

PHASE_ID = "PHASE_ID"


def phase_identity(plan: RunPlan, phase: PhasePlan) -> str:
    """The hash of everything a training phase's result depends on: later phases, and the
    tasks only they use, are left out."""
    resolved = resolved_config(plan.config)
    earlier = plan.phases[:phase.index + 1]
    # With the specs whose data trains a task (xnli trains on mnli's): their files make the phase too.
    specs = [spec for p in earlier for spec in [*p.specs, *(t.train_spec for t in p.tasks)]]
    prefix = {**resolved, "phases": resolved["phases"][:phase.index + 1],
              "task_versions": {spec.name: spec.version for spec in sorted(specs, key=lambda s: s.name)}}
    return run_identity(prefix)


def record_identity(plan: RunPlan, phase: PhasePlan) -> None:
    write_text_atomic(phase.dir / PHASE_ID, phase_identity(plan, phase) + "\n")


def _finished_twin(plan: RunPlan, phase: PhasePlan, identity: str) -> Path | None:
    for recorded in sorted(plan.config.output_dir.glob(f"*/{phase.name}/{PHASE_ID}")):
        source = recorded.parent
        if source == phase.dir or not (source / DONE).is_file() or not (source / "model").is_dir():
            continue
        if recorded.read_text(encoding="utf-8").strip() == identity:
            return source
    return None


def reuse_finished_phase(plan: RunPlan, phase: PhasePlan) -> dict | None:
    """Copy a sibling run's finished phase with the same identity into this run; its metrics,
    or None when there is none to reuse (or this phase has started: it resumes instead)."""
    if not plan.config.reuse_phases or phase.dir.exists():
        return None
    identity = phase_identity(plan, phase)
    source = _finished_twin(plan, phase, identity)
    if source is None:
        return None
    staging = phase.dir.with_name(f".{phase.name}.reuse")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(source, staging)
    except OSError as exc:  # the source run removed its model meanwhile: train instead
        shutil.rmtree(staging, ignore_errors=True)
        console.print(f"[yellow]phase '{phase.name}': could not copy {source} ({exc.strerror}); training it")
        return None
    metrics = json.loads((staging / "metrics.json").read_text(encoding="utf-8"))
    metrics["reused_from"] = str(source)
    write_json_atomic(staging / "metrics.json", metrics)
    os.replace(staging, phase.dir)  # the phase appears whole, DONE included, or not at all
    console.print(f"[green]phase '{phase.name}': identical to {source} (same settings, phases and data), reused")
    return metrics
