"""What `xstilts study run STUDY` does besides executing runs: check every run and attack
before the first starts, and hand the distinct runs to an executor as a grid (so a study runs
on this machine, Ray or Slurm like any grid, and its results land in the results store); the
setup's attacks on a run are made by the run's job, after it. Aliases (runs with a config
identical to an earlier one) are not run again; an attack whose results.json is saved is
skipped."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from accelerate import Accelerator

from xstilts.config import ExperimentConfig, data_dir_from
from xstilts.config.grid import Grid, GridRun
from xstilts.config.schema import resolved_config
from xstilts.console import console
from xstilts.data.loading import DataSettings, check_available
from xstilts.data.registry import get_task, load_registry, resolve_languages
from xstilts.errors import XstiltsError
from xstilts.robustness.attack import AttackOptions, latest_model_dir, run_attack
from xstilts.robustness.registry import build_perturbations
from xstilts.run_identity import run_identity
from xstilts.studies.plan import StudyPlan, StudyRun, selects
from xstilts.studies.schema import AttackSpec
from xstilts.training.pipeline import check_config


def _attack_options(attack: AttackSpec, cfg: ExperimentConfig) -> AttackOptions:
    spec = load_registry(cfg.task_dirs).get(attack.task)
    return AttackOptions(
        spec=spec, languages=resolve_languages(spec, attack.languages, f"attacks.{attack.task}.languages"),
        perturbations=build_perturbations(",".join(attack.perturbations), [],
                                          {"seed": cfg.seed, "strength": attack.strength}),
        max_examples=attack.max_examples, seed=cfg.seed, max_length=cfg.max_length,
        data=DataSettings(dir=data_dir_from(None, cfg.data.dir)),
        device=Accelerator().device)


def _attacks_run(attack: AttackSpec, run: StudyRun) -> bool:
    """Whether the setup's `attack` is made on `run` (by default on every run)."""
    return attack.runs is None or selects(attack.runs, run)


def _attack_saved(run_dir: Path, attack: AttackSpec) -> Path:
    """Where the attack's results.json is saved in the run; its presence means done."""
    return run_dir / "attack" / attack.task / "results.json"


def _check_attacks(plan: StudyPlan) -> None:
    """Every attack's perturbations, task, languages and data files, before the first run."""
    for i, attack in enumerate(plan.setup.attacks):
        where = f"{plan.path}: setups.{plan.setup_name}.attacks.{i}"
        for run in plan.unique_runs:
            if _attacks_run(attack, run):
                options = _attack_options(attack, run.config)
                try:
                    spec = get_task(attack.task)
                    for lang in resolve_languages(spec, attack.languages, "languages"):
                        check_available(spec, options.split, lang, options.data)
                except XstiltsError as exc:
                    raise XstiltsError(f"{where} ({run.name}): {exc}") from None


def check_study(plan: StudyPlan) -> None:
    """Every run's config and data files, and every attack's, before the first run starts."""
    for run in plan.unique_runs:
        check_config(run.config)
    _check_attacks(plan)


def study_grid(plan: StudyPlan, only: str | None = None) -> Grid:
    """The study's distinct runs (those whose name matches the glob `only`) as a grid that an
    executor runs; aliases measure their original."""
    chosen = [run for run in plan.unique_runs if only is None or fnmatch.fnmatchcase(run.name, only)]
    if not chosen:
        names = [run.name for run in plan.unique_runs]
        raise XstiltsError(f"--only {only}: no run of setup '{plan.setup_name}' matches; runs: {', '.join(names)}")
    runs = [GridRun(run.name, run.config, run.levels, run_identity(resolved_config(run.config))) for run in chosen]
    return Grid(plan.path, plan.setup.execution, runs)


def pending_attacks(plan: StudyPlan) -> dict[str, tuple[AttackSpec, ...]]:
    """Run name -> the setup's attacks that select the run and are not saved yet."""
    return {run.name: tuple(attack for attack in plan.setup.attacks
                            if _attacks_run(attack, run) and not _attack_saved(run.run_dir, attack).is_file())
            for run in plan.unique_runs}


def run_attacks(run_dir: Path, config: ExperimentConfig, attacks: tuple[AttackSpec, ...]) -> None:
    """A finished run's attacks, in the run's job; one already saved is skipped."""
    for attack in attacks:
        saved = _attack_saved(run_dir, attack)
        out = saved.parent
        if saved.is_file():
            console.print(f"[green]{run_dir.name}: attack on {attack.task} already saved in {out}, skipped")
            continue
        console.rule(f"{run_dir.name}: attack on {attack.task}")
        run_attack(latest_model_dir(run_dir), _attack_options(attack, config), out)
