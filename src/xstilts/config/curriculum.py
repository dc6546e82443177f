"""Curricula resolved before anything runs: a sequential curriculum becomes one training phase
per stage (each with its share of the budget), an interleaved one a `multitask` phase,
`order: permutations` one experiment per order of its stages, and a fused one a training phase
per stage (each its own LoRA adapter from the same starting model) followed by a `fuse` phase,
named as the curriculum, that combines their adapters."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from xstilts.config.schema import CurriculumPhase, ExperimentConfig, TaskEntry, TrainingOptions


def split_budget(budget: int, shares: list[float]) -> list[int]:
    """Whole numbers of examples in proportion to `shares` that add up to `budget` exactly
    (largest remainders get the leftover examples, earlier stages first on ties)."""
    total = sum(shares)
    exact = [budget * s / total for s in shares]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[: budget - sum(parts)]:
        parts[i] += 1
    return parts


def _stage_label(stage: list[TaskEntry]) -> str:
    return "+".join(e.task for e in stage)


def _resolve_curriculum(cur: CurriculumPhase) -> list[dict[str, Any]]:
    """The training phases a (non-permutation) curriculum stands for, as config dicts."""
    options = cur.model_dump(include=set(TrainingOptions.model_fields))
    entries = [e for stage in cur.tasks for e in stage]
    if cur.curve is not None and cur.curve.tasks is None:
        # Every stage scores every task of the curriculum: forgetting of earlier ones included.
        options["curve"] = {**options["curve"], "tasks": [e.task for e in entries]}
    sampler = cur.sampler.model_dump()
    if cur.order == "interleaved":
        return [{**options, "kind": "multitask", "name": cur.name, "tasks": [e.model_dump() for e in entries],
                 "sampler": sampler, "budget": cur.budget, "stage_of": cur.name}]
    phases = []
    budgets = split_budget(cur.budget, cur.shares or [1.0] * len(cur.tasks))
    # A fused curriculum's stages each start from the model before it (the pipeline does not
    # hand a stage's model to the next one when `fused_into` names the fuse phase).
    stage_keys = {"stage_of": cur.name, **({"fused_into": cur.name} if cur.order == "fused" else {})}
    for number, (stage, budget) in enumerate(zip(cur.tasks, budgets), start=1):
        name = f"{cur.name}-{number}-{_stage_label(stage)}"
        if len(stage) == 1:
            phases.append({**options, **stage[0].model_dump(), "kind": "train", "name": name,
                           "budget": budget, **stage_keys})
        else:
            group_sampler = sampler
            if sampler["type"] == "fixed":  # the group's own tasks' weights
                group_sampler = {**sampler, "weights": {e.task: sampler["weights"][e.task] for e in stage}}
            phases.append({**options, "kind": "multitask", "name": name, "tasks": [e.model_dump() for e in stage],
                           "sampler": group_sampler, "budget": budget, **stage_keys})
    if cur.order == "fused":
        phases.append({"kind": "fuse", "name": cur.name, "stages": [p["name"] for p in phases],
                       "weights": cur.fusion_weights or [1.0 / len(phases)] * len(phases), "stage_of": cur.name,
                       "keep_model": cur.keep_model})
    return phases


def resolve_curricula(cfg: ExperimentConfig, validate: Callable[[dict[str, Any]], ExperimentConfig]) -> list[ExperimentConfig]:
    """One experiment per order of each `permutations` curriculum, with every curriculum
    replaced by the training phases it stands for (their budgets written out)."""
    curricula = [i for i, p in enumerate(cfg.phases) if isinstance(p, CurriculumPhase)]
    choices = [list(itertools.permutations(cfg.phases[i].tasks)) if cfg.phases[i].order == "permutations"
               else [cfg.phases[i].tasks] for i in curricula]
    resolved = []
    for orders in itertools.product(*choices):
        data = cfg.model_dump(mode="json")
        suffix = []
        phases: list[Any] = []
        for i, phase in enumerate(cfg.phases):
            if i not in curricula:
                phases.append(data["phases"][i])
                continue
            stages = list(orders[curricula.index(i)])
            if phase.order == "permutations":
                suffix += [_stage_label(s) for s in stages]
            order = phase.order if phase.order in ("interleaved", "fused") else "sequential"
            ordered = phase.model_copy(update={"tasks": stages, "order": order})
            phases += _resolve_curriculum(ordered)
        data["phases"] = phases
        data["name"] = "-".join([cfg.name, *suffix])
        resolved.append(validate(data))
    return resolved
