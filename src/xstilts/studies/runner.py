"""`xstilts study run STUDY`: run (or resume) every run a setup needs, in turn, then the
setup's attacks on each. Every run's data is checked before the first one starts. A run whose
folder holds the same resolved config resumes or is skipped phase by phase (the pipeline's
resume); aliases (runs with a config identical to an earlier one) are not run again; an attack
whose results.json is saved is skipped."""

from __future__ import annotations

from accelerate import Accelerator

from xstilts.config import ExperimentConfig, data_dir_from
from xstilts.console import console
from xstilts.data.loading import DataSettings, check_available
from xstilts.data.registry import get_task, load_registry, resolve_languages
from xstilts.errors import XstiltsError
from xstilts.robustness.attack import AttackOptions, latest_model_dir, run_attack
from xstilts.robustness.registry import build_perturbations
from xstilts.studies.plan import StudyPlan, selects
from xstilts.studies.schema import AttackSpec
from xstilts.training.pipeline import check_config, run_plan


def _attack_options(attack: AttackSpec, cfg: ExperimentConfig) -> AttackOptions:
    spec = load_registry(cfg.task_dirs).get(attack.task)
    return AttackOptions(
        spec=spec, languages=resolve_languages(spec, attack.languages, f"attacks.{attack.task}.languages"),
        perturbations=build_perturbations(",".join(attack.perturbations), [],
                                          {"seed": cfg.seed, "strength": attack.strength}),
        max_examples=attack.max_examples, seed=cfg.seed, max_length=cfg.max_length,
        data=DataSettings(dir=data_dir_from(None, cfg.data.dir)),
        device=Accelerator().device)


def _check_attacks(plan: StudyPlan) -> None:
    """Every attack's perturbations, task, languages and data files, before the first run."""
    for i, attack in enumerate(plan.setup.attacks):
        where = f"{plan.path}: setups.{plan.setup_name}.attacks.{i}"
        for run in plan.unique_runs:
            if attack.runs is None or selects(attack.runs, run):
                options = _attack_options(attack, run.config)
                try:
                    spec = get_task(attack.task)
                    for lang in resolve_languages(spec, attack.languages, "languages"):
                        check_available(spec, options.split, lang, options.data)
                except XstiltsError as exc:
                    raise XstiltsError(f"{where} ({run.name}): {exc}") from None


def run_study(plan: StudyPlan) -> None:
    unique = plan.unique_runs
    plans = [check_config(run.config) for run in unique]
    _check_attacks(plan)
    aliases = len(plan.runs) - len(unique)
    console.print(f"study {plan.study.name}, setup {plan.setup_name}: {len(unique)} runs"
                  + (f" ({aliases} more share a run with an identical config)" if aliases else ""))
    for number, (run, run_plan_) in enumerate(zip(unique, plans), start=1):
        console.rule(f"run {number}/{len(unique)}: {run.name}")
        run_plan(run_plan_)
        for attack in plan.setup.attacks:
            if attack.runs is not None and not selects(attack.runs, run):
                continue
            out = run.run_dir / "attack" / attack.task
            if (out / "results.json").is_file():
                console.print(f"[green]attack on {attack.task} already saved in {out}, skipped")
                continue
            run_attack(latest_model_dir(run.run_dir), _attack_options(attack, run.config), out)
