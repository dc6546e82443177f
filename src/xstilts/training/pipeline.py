"""The experiment recipe: run the configured phases in order, on disk, resumably.

    runs/<name>/config.yaml      the resolved config (a rerun must match it), written when the
                                 first phase starts and never rewritten; curricula appear as
                                 their stages, each with its budget (see run_folder.py)
    runs/<name>/<phase>/         one folder per phase, DONE when finished
    runs/<name>/metrics.json     all phases' results, task versions, the config
    runs/<name>/curves.json      the transfer/forgetting curve points of every training phase
    runs/<name>/summary.md       the per-language table, for people

A phase with DONE is skipped; a train phase with a checkpoint resumes from it; an evaluate
phase resumes at the first language without scores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import time
from pathlib import Path

from accelerate import Accelerator, PartialState
from accelerate.utils import DistributedDataParallelKwargs

from xstilts import __version__
from xstilts.config import ExperimentConfig, phase_tasks, resolved_config
from xstilts.config.plan import PhasePlan, RunPlan, plan_run
from xstilts.console import console
from xstilts.data.loading import forget_checked_examples
from xstilts.errors import XstiltsError
from xstilts.evaluation.summary import render_summary
from xstilts.evaluation.zero_shot import evaluate_languages
from xstilts.formats.retrieval import encoder_layer
from xstilts.io import write_json_atomic, write_text_atomic
from xstilts.models.multitask import MODEL_NOT_KEPT, check_max_length, is_saved_model
from xstilts.models.sources import check_model_source
from xstilts.provenance import command_line, machine, now, source_commit
from xstilts.training import run_folder
from xstilts.training.fusion import run_fuse_phase
from xstilts.training.interrupts import StopRequests
from xstilts.training.phase_reuse import record_identity, reuse_finished_phase
from xstilts.training.train_phase import DONE, TrainPhaseRunner, starting_model


def check_config(cfg: ExperimentConfig, check_files: bool = True) -> RunPlan:
    """The run's plan: fails before any work on unknown tasks or languages (naming the config
    key) and, with `check_files` (before a run; `validate` leaves it out), on everything
    `check_run` checks."""
    plan = plan_run(cfg)
    if check_files:
        check_run(plan)
    return plan


def check_run(plan: RunPlan) -> None:
    """Everything a run needs, checked before its folder binds: every data file read and
    validated, the tracker packages installed, the pretrained model loadable."""
    cfg = plan.config
    plan.check_files()
    for tracker in cfg.log_with:
        if not _tracker_available(tracker):
            raise XstiltsError(f"log_with: {tracker} needs the '{tracker}' package; "
                               f"pip install {_TRACKER_PACKAGES.get(tracker, tracker)}, or remove it from log_with")
    if _needs_pretrained_model(plan) and not is_saved_model(Path(cfg.model)):  # a saved run's model loads as it was saved
        check_model_source(cfg.model, cfg.encoder_layers)


def _needs_pretrained_model(plan: RunPlan) -> bool:
    """Whether a phase still to run starts from the pretrained encoder (not from a finished
    training phase's model): a finished run needs neither the network nor the model."""
    for phase in plan.phases:
        if not (phase.dir / DONE).is_file():
            return True
        if phase.hands_on_model:
            return False
    return False


# What to install for a tracker: wandb is pinned in the `trackers` extra.
_TRACKER_PACKAGES = {"wandb": "'xstilts[trackers]'"}


def _tracker_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def make_accelerator(cfg: ExperimentConfig, run_dir: Path) -> Accelerator:
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
    return accelerator


def run_experiment(cfg: ExperimentConfig, force: bool = False) -> dict:
    """Check an experiment, then run it (`run_plan`)."""
    return run_plan(check_config(cfg), force)


def run_plan(plan: RunPlan, force: bool = False) -> dict:
    """Run a checked plan (`check_config`): its phases in order, skipping finished ones,
    resuming the rest. One process at a time holds the run folder; SIGTERM and SIGINT stop
    training at the next step with a checkpoint (`Interrupted`)."""
    # With several processes (DDP) the main one holds the folder and prepares it.
    main = PartialState().is_main_process
    with run_folder.locked(plan.run_dir) if main else contextlib.nullcontext(), StopRequests() as stop:
        return _run_phases(plan, force, stop)


def _run_phases(plan: RunPlan, force: bool, stop: StopRequests) -> dict:
    cfg, run_dir = plan.config, plan.run_dir
    started, started_at, commit = time.monotonic(), now(), source_commit()  # the code as it starts
    resolved = resolved_config(cfg)
    if PartialState().is_main_process:
        run_folder.prepare(run_dir, resolved, force)
    PartialState().wait_for_everyone()
    run_folder.check_inside(run_dir, [phase.dir for phase in plan.phases])
    accelerator = make_accelerator(cfg, run_dir)
    recorded = run_folder.bind(run_dir, resolved)  # binding from here on: the first phase starts
    if cfg.log_with:
        # wandb writes its run files (online or WANDB_MODE=offline) in the run's folder, not the cwd.
        accelerator.init_trackers(cfg.name, config={"seed": cfg.seed, "model": cfg.model},
                                  init_kwargs={"wandb": {"dir": str(run_dir)}})
    # The model the next phase starts from: the latest trained (or fused) model, except that
    # the stages of a fused curriculum all start from the model before it; None = pretrained.
    model_dir: Path | None = None
    results: dict[str, dict] = {}
    ran = False
    skipped: list[str] = []
    for phase in plan.phases:
        if (phase.dir / DONE).is_file():
            console.print(f"[green]phase '{phase.name}' already done, skipped")
            skipped.append(phase.name)
            results[phase.name] = json.loads((phase.dir / "metrics.json").read_text(encoding="utf-8"))
        elif not phase.makes_model:
            console.print(f"[bold]phase '{phase.name}': evaluate {phase.spec.name} ({phase.config.split})")
            results[phase.name] = _evaluate_phase(plan, phase, model_dir, accelerator)
            ran = True
        elif not phase.training:
            console.print(f"[bold]phase '{phase.name}': fuse the adapters of {', '.join(phase.config.stages)}")
            results[phase.name] = run_fuse_phase(plan, phase, model_dir, accelerator)
            ran = True
        elif (reused := reuse_finished_phase(plan, phase)) is not None:
            results[phase.name] = reused
            ran = True
        else:
            learns = " + ".join(phase_tasks(phase.config)) or "masked LM only"
            console.print(f"[bold]phase '{phase.name}': train on {learns}")
            runner = TrainPhaseRunner(plan, phase, model_dir, accelerator, stop)
            runner.setup()
            runner.run()
            results[phase.name] = runner.finish()
            if accelerator.is_main_process:
                record_identity(plan, phase)
            ran = True
        if phase.hands_on_model:
            model_dir = phase.dir / "model"
        stop.raise_if_requested()
    accelerator.end_training()
    summary = {
        "name": cfg.name,
        "xstilts_version": __version__,
        "config": recorded,
        "task_versions": plan.task_versions,
        "phases": results,
        # What a published table names: this invocation's code, command, machine and time (the
        # wall time covers only the phases it ran, not those done before, listed in skipped_phases).
        "provenance": {"commit": commit, "command": command_line(), "machine": machine(),
                       "started": started_at, "finished": now(), "wall_seconds": round(time.monotonic() - started, 1),
                       "skipped_phases": skipped},
    }
    # A finished run's files stay as they are: a rerun that ran nothing rewrites none of them.
    if accelerator.is_main_process and (ran or not (run_dir / "metrics.json").is_file()):
        write_json_atomic(run_dir / "metrics.json", summary)
        write_json_atomic(run_dir / "curves.json", run_curves(results))
        write_text_atomic(run_dir / "summary.md", render_summary(summary))
    if accelerator.is_main_process:
        _remove_unkept_models(plan)
    forget_checked_examples()
    return summary


def _remove_unkept_models(plan: RunPlan) -> None:
    """Remove the models of a finished run that `keep_models` / a phase's `keep_model` let go,
    leaving a note that says so for the commands that look for them."""
    trained = [phase for phase in plan.phases if phase.makes_model]
    for phase in trained:
        policy = plan.config.keep_models
        keep = phase.config.keep_model
        if keep is None:
            keep = policy == "all" or (policy == "final" and phase is trained[-1])
        model_dir = phase.dir / "model"
        if keep or not model_dir.is_dir():
            continue
        setting = f"{phase.where}.keep_model: false" if phase.config.keep_model is False else f"keep_models: {policy}"
        write_text_atomic(phase.dir / MODEL_NOT_KEPT, f"model not kept ({setting} in {plan.run_dir / 'config.yaml'}); "
                                                     "rerun with keep_models: all (and --force) to keep it\n")
        shutil.rmtree(model_dir)


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
    model, tokenizer = starting_model(cfg, model_dir)
    check_max_length(model.encoder, cfg.max_length)
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
