"""The experiment recipe: run the configured phases in order, on disk, resumably.

    runs/<name>/config.yaml      the resolved config (a rerun must match it); curricula appear
                                 as their stages, each with its budget
    runs/<name>/<phase>/         one folder per phase, DONE when finished
    runs/<name>/metrics.json     all phases' results, task versions, the config
    runs/<name>/curves.json      the transfer/forgetting curve points of every training phase
    runs/<name>/summary.md       the per-language table, for people

A phase with DONE is skipped; a train phase with a checkpoint resumes from it; an evaluate
phase resumes at the first language without scores.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path

import yaml
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs

from xstilts import __version__
from xstilts.config import ExperimentConfig, phase_tasks
from xstilts.config.plan import PhasePlan, RunPlan, plan_run
from xstilts.console import console
from xstilts.errors import XstiltsError
from xstilts.evaluation.summary import render_summary
from xstilts.evaluation.zero_shot import evaluate_languages
from xstilts.formats.retrieval import encoder_layer
from xstilts.io import write_json_atomic, write_text_atomic
from xstilts.models.multitask import build_model, load_model
from xstilts.provenance import command_line, machine, now, source_commit
from xstilts.training.train_phase import DONE, TrainPhaseRunner

# Keys that may differ between a run and its resumption without changing results.
_RESUME_NEUTRAL_KEYS = ("output_dir", "data")


def _comparable(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in _RESUME_NEUTRAL_KEYS}


def check_config(cfg: ExperimentConfig, check_files: bool = True) -> RunPlan:
    """The run's plan: fails before any work on unknown tasks or languages (naming the config
    key) and, with `check_files`, on local data files that are missing."""
    plan = plan_run(cfg)
    if check_files:
        plan.check_files()
    return plan


def resolved_config(cfg: ExperimentConfig) -> dict:
    """The config as saved with a run, each phase's name and kind first for people reading it."""
    data = json.loads(cfg.model_dump_json())
    data["phases"] = [{"name": p["name"], "kind": p["kind"], **p} for p in data["phases"]]
    return data


def _prepare_run_dir(cfg: ExperimentConfig, run_dir: Path, force: bool) -> Path:
    resolved = resolved_config(cfg)
    saved_file = run_dir / "config.yaml"
    if force and run_dir.exists():
        shutil.rmtree(run_dir)
    if saved_file.is_file():
        saved = yaml.safe_load(saved_file.read_text(encoding="utf-8"))
        if _comparable(saved) != _comparable(resolved):
            diff = sorted(k for k in set(saved) | set(resolved) if saved.get(k) != resolved.get(k))
            raise XstiltsError(
                f"{run_dir} holds a run with a different config (differs at: {', '.join(diff)}); "
                "pass --force to start it over, or give the run another name"
            )
    write_text_atomic(saved_file, yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True))
    return run_dir


def _tracker_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def make_accelerator(cfg: ExperimentConfig, run_dir: Path) -> Accelerator:
    for tracker in cfg.log_with:
        if not _tracker_available(tracker):
            raise XstiltsError(f"log_with: {tracker} needs the '{tracker}' package; "
                               f"pip install {tracker}, or remove it from log_with")
    # Heads of tasks absent from a batch get no gradient; DDP must be told to expect that.
    # The train phase steps its scheduler once per optimizer step itself (accelerate would
    # step it once per process).
    try:
        accelerator = Accelerator(
            mixed_precision=cfg.mixed_precision,
            log_with=cfg.log_with or None,
            project_dir=str(run_dir),
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
            step_scheduler_with_optimizer=False,
        )
    except ValueError as exc:  # accelerate's state is per process: one precision per process
        raise XstiltsError(f"mixed_precision: {str(exc).splitlines()[0]}") from None
    if cfg.log_with:
        accelerator.init_trackers(cfg.name, config={"seed": cfg.seed, "model": cfg.model})
    return accelerator


def run_experiment(cfg: ExperimentConfig, force: bool = False) -> dict:
    """Check an experiment, then run it (`run_plan`)."""
    return run_plan(check_config(cfg), force)


def run_plan(plan: RunPlan, force: bool = False) -> dict:
    """Run a checked plan (`check_config`): its phases in order, skipping finished ones,
    resuming the rest."""
    cfg = plan.config
    started, started_at, commit = time.monotonic(), now(), source_commit()  # the code as it starts
    run_dir = _prepare_run_dir(cfg, plan.run_dir, force)
    accelerator = make_accelerator(cfg, run_dir)
    model_dir: Path | None = None  # the latest trained model; None = the pretrained encoder
    results: dict[str, dict] = {}
    skipped: list[str] = []
    for phase in plan.phases:
        if (phase.dir / DONE).is_file():
            console.print(f"[green]phase '{phase.name}' already done, skipped")
            skipped.append(phase.name)
            results[phase.name] = json.loads((phase.dir / "metrics.json").read_text(encoding="utf-8"))
        elif phase.training:
            console.print(f"[bold]phase '{phase.name}': train on {' + '.join(phase_tasks(phase.config))}")
            runner = TrainPhaseRunner(plan, phase, model_dir, accelerator)
            runner.setup()
            runner.run()
            results[phase.name] = runner.finish()
        else:
            console.print(f"[bold]phase '{phase.name}': evaluate {phase.spec.name} ({phase.config.split})")
            results[phase.name] = _evaluate_phase(plan, phase, model_dir, accelerator)
        if phase.training:
            model_dir = phase.dir / "model"
    accelerator.end_training()
    summary = {
        "name": cfg.name,
        "xstilts_version": __version__,
        "config": resolved_config(cfg),
        "task_versions": plan.task_versions,
        "phases": results,
        # What a published table names: this invocation's code, command, machine and time (the
        # wall time covers only the phases it ran, not those done before, listed in skipped_phases).
        "provenance": {"commit": commit, "command": command_line(), "machine": machine(),
                       "started": started_at, "finished": now(), "wall_seconds": round(time.monotonic() - started, 1),
                       "skipped_phases": skipped},
    }
    if accelerator.is_main_process:
        write_json_atomic(run_dir / "metrics.json", summary)
        write_json_atomic(run_dir / "curves.json", run_curves(results))
        write_text_atomic(run_dir / "summary.md", render_summary(summary))
    return summary


def run_curves(results: dict[str, dict]) -> list[dict]:
    """Every training phase's curve points in run order, with the examples seen since the
    run's first training phase (the x axis across the stages of a curriculum)."""
    points, before = [], 0
    for name, phase in results.items():
        if phase["kind"] != "train":
            continue
        points += [{"phase": name, "run_examples_seen": before + p["examples_seen"], **p}
                   for p in phase.get("transfer_curve", [])]
        before += phase["examples_seen"]
    return points


def _evaluate_phase(plan: RunPlan, phase: PhasePlan, model_dir: Path | None, accelerator: Accelerator) -> dict:
    cfg = plan.config
    if model_dir is None:
        model, tokenizer = build_model(cfg.model, cfg.pooling, cfg.dropout, cfg.encoder_layers)
    else:
        model, tokenizer = load_model(model_dir)
    if phase.config.layer is not None:
        encoder_layer(model.encoder, phase.config.layer, f"{phase.where}.layer")  # one line, before any work
    model.to(accelerator.device)
    with accelerator.autocast():
        metrics = evaluate_languages(model, tokenizer, phase.spec, phase.languages, phase.config, phase.dir,
                                     plan.data, cfg.seed, cfg.max_length, accelerator.device)
    metrics["model"] = str(model_dir) if model_dir else cfg.model
    if accelerator.is_main_process:
        write_json_atomic(phase.dir / "metrics.json", metrics)
        write_text_atomic(phase.dir / DONE, "")
    return metrics
