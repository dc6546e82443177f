"""A study file read and validated, and a setup's runs expanded with the config machinery
(overrides, variants, curricula, the data-dir rule of config/loading.py).

Runs whose resolved configs are identical but for their names (e.g. "no intermediate task"
crossed with two curriculum orders) are one run: the later names are aliases of the first and
measure the same run directory, so it is trained once. So is a run whose config matches a
finished run already in the output folder (made by another study or by `xstilts run`).
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from xstilts.config import ExperimentConfig, apply_override, describe_validation_error, load_experiments
from xstilts.config.loading import experiments_from, read_mapping
from xstilts.errors import XstiltsError, did_you_mean, repeated
from xstilts.studies.schema import TAGGED_MODELS, Condition, Grid, Setup, Study
from xstilts.training.pipeline import resolved_config


def load_study(path: Path) -> Study:
    path = Path(path)
    data = read_mapping(path, "study keys", "study file")
    try:
        return Study.model_validate(data)
    except ValidationError as exc:
        raise XstiltsError(describe_validation_error(exc, str(path), Study, TAGGED_MODELS)) from None


@dataclass(frozen=True)
class StudyRun:
    config: ExperimentConfig
    levels: dict[str, str] = field(default_factory=dict)  # grid axis -> level; {} for runs from config files
    same_as: str | None = None  # an alias: the run (name) with an identical resolved config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def run_dir(self) -> Path:
        """Where the run's results are: its own directory, or its original's for an alias."""
        return self.config.output_dir / (self.same_as or self.config.name)


@dataclass(frozen=True)
class StudyPlan:
    study: Study
    path: Path
    setup_name: str
    setup: Setup
    runs: tuple[StudyRun, ...]

    @property
    def unique_runs(self) -> list[StudyRun]:
        return [r for r in self.runs if r.same_as is None]

    def axes(self) -> dict[str, list[str]]:
        """Grid axis -> its levels, in file order."""
        grid = self.setup.grid
        return {axis: _level_names(axis, levels) for axis, levels in grid.axes.items()} if grid else {}


def plan_study(path: Path, setup: str | None = None, data_dir: Path | None = None,
               overrides: list[str] = ()) -> StudyPlan:
    """The runs of one setup of a study (the first one by default), validated."""
    path = Path(path)
    study = load_study(path)
    if setup is None:
        setup = next(iter(study.setups))
    elif setup not in study.setups:
        raise XstiltsError(f"--setup {setup}: the study has no such setup.{did_you_mean(setup, study.setups)} "
                           f"Setups: {', '.join(study.setups)}")
    chosen = study.setups[setup]
    runs: list[StudyRun] = []
    if chosen.grid is not None:
        runs += _grid_runs(chosen.grid, path, setup, data_dir, overrides)
    for i, config_file in enumerate(chosen.configs):
        file = config_file if config_file.is_absolute() else path.parent / config_file
        if not file.is_file():
            raise XstiltsError(f"{path}: setups.{setup}.configs.{i}: {file} does not exist")
        runs += [StudyRun(cfg) for cfg in load_experiments(file, overrides, data_dir)]
    dupes = repeated(r.name for r in runs)
    if dupes:
        raise XstiltsError(f"{path}: setups.{setup}: several runs would be named {', '.join(dupes)}")
    plan = StudyPlan(study, path, setup, chosen, tuple(_with_aliases(runs)))
    _check_conditions(plan)
    return plan


def _level_names(axis: str, levels) -> list[str]:
    if isinstance(levels, list):
        return [f"{axis.split('.')[-1]}{value}" for value in levels]
    return [str(level) for level in levels]


def _level_overrides(axis: str, levels) -> list[tuple[str, dict]]:
    if isinstance(levels, list):
        return [(name, {axis: value}) for name, value in zip(_level_names(axis, levels), levels)]
    return [(str(level), overrides or {}) for level, overrides in levels.items()]


def _grid_runs(grid: Grid, path: Path, setup: str, data_dir: Path | None, overrides: list[str]) -> list[StudyRun]:
    where = f"setups.{setup}.grid"
    if isinstance(grid.base, Path):
        base_file = grid.base if grid.base.is_absolute() else path.parent / grid.base
        base = read_mapping(base_file)
    else:
        base = grid.base
    if "variants" in base:
        raise XstiltsError(f"{path}: {where}.base: a grid base has no variants; make them an axis of the grid")
    if "name" not in base:
        raise XstiltsError(f"{path}: {where}.base: the base config needs a name (runs are named <name>-<level>...)")
    axes = [(axis, _level_overrides(axis, levels)) for axis, levels in grid.axes.items()]
    runs = []
    for combination in itertools.product(*(levels for _, levels in axes)):
        data = copy.deepcopy(base)
        levels = {}
        for (axis, _), (level, changes) in zip(axes, combination):
            levels[axis] = level
            for key, value in changes.items():
                apply_level(data, str(key), copy.deepcopy(value), f"{path}: {where}.axes.{axis}.{level}:")
        data["name"] = "-".join([str(base["name"]), *levels.values()])
        source = f"{path} ({where}: {', '.join(f'{a}={v}' for a, v in levels.items())})"
        runs += [StudyRun(cfg, levels) for cfg in experiments_from(data, source, overrides, data_dir)]
    return runs


def apply_level(data: dict, key: str, value, flag: str) -> None:
    """One key of a grid level: a dotted key as `--set` takes it, where a phase may also be
    named instead of numbered (`phases.target.task: mlqa`), and `phases.<name>: null` removes
    that phase (e.g. the intermediate phase of a "none" level)."""
    path = key.split(".")
    if len(path) >= 2 and path[0] == "phases" and not path[1].isdigit():
        phases = data.get("phases") if isinstance(data.get("phases"), list) else []
        names = [p.get("name") if isinstance(p, dict) else None for p in phases]
        if path[1] not in names:
            raise XstiltsError(f"{flag} {key}: no phase named '{path[1]}' (left) in the base config; phases: "
                               f"{', '.join(map(str, names)) or 'none'}")
        index = names.index(path[1])
        if len(path) == 2 and value is None:
            del phases[index]
            return
        path = ["phases", str(index), *path[2:]]
    apply_override(data, path, value, flag=flag)


def _config_key(resolved: dict) -> str:
    """A resolved config without what does not change results (name, where runs and data live)."""
    return json.dumps({k: v for k, v in resolved.items() if k not in ("name", "output_dir", "data")}, sort_keys=True)


def _finished_runs(output_dir: Path) -> dict[str, str]:
    """Config key -> name of each finished run already in `output_dir` (its config.yaml saved
    by the pipeline, metrics.json written last)."""
    found: dict[str, str] = {}
    for saved in sorted(output_dir.glob("*/config.yaml")):
        if (saved.parent / "metrics.json").is_file():
            config = yaml.safe_load(saved.read_text(encoding="utf-8"))
            if isinstance(config, dict):
                found.setdefault(_config_key(config), saved.parent.name)
    return found


def _with_aliases(runs: list[StudyRun]) -> list[StudyRun]:
    """Runs with the config of an earlier run of the plan, or of a finished run already in the
    output folder (another study's, or made by `xstilts run`), become aliases of it; a run
    whose own folder exists stays itself (the pipeline resumes it)."""
    finished = {d: _finished_runs(d) for d in {run.config.output_dir for run in runs}}
    first_of: dict[tuple[Path, str], str] = {}
    out = []
    for run in runs:
        key = _config_key(resolved_config(run.config))
        own_dir = run.config.output_dir / run.name
        existing = finished[run.config.output_dir].get(key)
        if not (own_dir / "config.yaml").is_file() and existing is not None:
            out.append(StudyRun(run.config, run.levels, same_as=existing))
            continue
        original = first_of.setdefault((run.config.output_dir, key), run.name)
        out.append(run if original == run.name else StudyRun(run.config, run.levels, same_as=original))
    return out


def _check_conditions(plan: StudyPlan) -> None:
    """Every grid axis and level a claim's condition names exists (a typo would select nothing),
    for the claims the setup does not mark untestable."""
    axes = plan.axes()
    for i, claim in enumerate(plan.study.claims):
        if claim.id in plan.setup.untestable:
            continue
        for where, condition in claim_conditions(claim):
            for axis, wanted in condition.levels.items():
                place = f"{plan.path}: claims.{i}.{where}.levels.{axis}"
                if axis not in axes:
                    raise XstiltsError(f"{place}: setup '{plan.setup_name}' has no grid axis '{axis}'."
                                       f"{did_you_mean(axis, axes)} Axes: {', '.join(axes) or 'none'}")
                for level in wanted if isinstance(wanted, list) else [wanted]:
                    if level not in axes[axis]:
                        raise XstiltsError(f"{place}: no level '{level}'.{did_you_mean(level, axes[axis])} "
                                           f"Levels: {', '.join(axes[axis])}")


def _config_value(config: dict, key: str):
    node = config
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


_MISSING = object()


def selects(condition: Condition, run: StudyRun) -> bool:
    """Whether a condition selects a planned run (by grid levels, resolved config, name)."""
    for axis, wanted in condition.levels.items():
        if run.levels.get(axis) not in (wanted if isinstance(wanted, list) else [wanted]):
            return False
    if condition.name is not None and not fnmatch.fnmatchcase(run.name, condition.name):
        return False
    if condition.config:
        config = resolved_config(run.config)
        return all(_config_value(config, key) == value for key, value in condition.config.items())
    return True


def claim_conditions(claim) -> list[tuple[str, Condition]]:
    """(key path inside the claim, condition) of every condition a claim names."""
    if claim.type == "ranking":
        return [(f"order.{i}", c) for i, c in enumerate(claim.order)]
    if claim.type == "slope":
        return [("condition", claim.condition)]
    return [(key, c) for key, c in (("a", claim.a), ("b", getattr(claim, "b", None))) if c is not None]
