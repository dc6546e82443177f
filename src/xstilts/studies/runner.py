"""`xstilts study run STUDY`: run (or resume) every run a setup needs, in turn, then the
setup's attacks on each. Every run's data is checked before the first one starts. A run whose
folder holds the same resolved config resumes or is skipped phase by phase (the pipeline's
resume); aliases (runs with a config identical to an earlier one) are not run again; an attack
whose results.json is saved is skipped."""

from __future__ import annotations

import torch

from xstilts.config import data_dir_from
from xstilts.console import console
from xstilts.data.loading import DataSettings
from xstilts.robustness.attack import AttackOptions, latest_model_dir, run_attack
from xstilts.robustness.registry import build_perturbations
from xstilts.studies.plan import StudyPlan, selects
from xstilts.training.pipeline import check_config, run_plan


def run_study(plan: StudyPlan) -> None:
    unique = plan.unique_runs
    plans = [check_config(run.config) for run in unique]
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
            cfg = run.config
            options = AttackOptions(
                task=attack.task, languages=attack.languages,
                perturbations=build_perturbations(",".join(attack.perturbations), [],
                                                  {"seed": cfg.seed, "strength": attack.strength}),
                max_examples=attack.max_examples, seed=cfg.seed, max_length=cfg.max_length,
                data=DataSettings(dir=data_dir_from(None, cfg.data.dir)),
                device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
            run_attack(latest_model_dir(run.run_dir), options, out)
