"""Grid files: a base experiment and axes, expanded into the cartesian product of runs.

    base: experiment.yaml            # a config file (relative to the grid file), or the config inline
    axes:
      phases.0.task: [mnli, qqp]     # a dotted config key and its values (as `--set` takes them)
      seed: [1, 2]
      target:                        # a named axis: each value sets several keys together
        - {phases.1.task: xnli, phases.2.task: xnli}
        - {name: copa, phases.1.task: xcopa, phases.2.task: xcopa}
    retries: 1                       # attempts after a failed one
    store: runs/results.duckdb       # default: <the base's output_dir>/results.duckdb
    resources: {cpus: 1, gpus: 0}    # what each run requests from Ray or Slurm
    ray: {address: auto}             # default: a local Ray started for the grid
    slurm: {partition: gpu, time_min: 120, gpus_per_node: 1, mem_gb: 32}

Each run is the base with one value of every axis, named `<base name>-<value>-<value>...`
(a number or flag is prefixed by its key: `seed1`; a several-key value by its `name` or its
first value). Each value goes through the same overrides, validation and curricula as a study
file's variants.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, ValidationError

from xstilts.config.loading import experiments_from, read_mapping
from xstilts.config.schema import ExperimentConfig, resolved_config
from xstilts.errors import XstiltsError, did_you_mean, repeated
from xstilts.run_identity import run_identity

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9.+_-]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunResources(_Strict):
    """What one run asks of a Ray cluster or a Slurm node."""

    cpus: PositiveFloat = 1
    gpus: NonNegativeFloat = 0


class RaySettings(_Strict):
    # A running cluster ('auto', or 'ray://host:10001'); None starts a local Ray for the grid.
    address: str | None = None


class SlurmSettings(_Strict):
    partition: str | None = None
    time_min: PositiveInt = 60
    gpus_per_node: NonNegativeInt = 0
    mem_gb: PositiveFloat | None = None
    array_parallelism: PositiveInt | None = None  # runs at once; default: Slurm's limit
    folder: Path | None = None  # job scripts and logs; default: <store folder>/slurm
    extra: dict[str, Any] = {}  # other sbatch options, e.g. {account: proj, qos: normal}


class ExecutionSettings(_Strict):
    """How a batch of runs is executed: a grid file's keys besides base and axes, and a study
    setup's `execution:`."""

    retries: NonNegativeInt = 1
    store: Path | None = None
    resources: RunResources = RunResources()
    ray: RaySettings = RaySettings()
    slurm: SlurmSettings = SlurmSettings()


class GridConfig(ExecutionSettings):
    base: str | dict[str, Any]
    axes: dict[str, list[Any]] = Field(min_length=1)


@dataclass(frozen=True)
class GridRun:
    name: str
    config: ExperimentConfig
    axes: dict[str, str]  # axis -> the label of its value in this run
    run_id: str

    @property
    def run_dir(self) -> Path:
        return self.config.output_dir / self.name


@dataclass(frozen=True)
class Grid:
    """Runs to execute together, with their execution settings: a grid file's, or a study's."""

    path: Path  # the file they come from (a grid or a study)
    settings: ExecutionSettings
    runs: list[GridRun]

    @property
    def store(self) -> Path:
        return self.settings.store or self.runs[0].config.output_dir / "results.duckdb"


def _label(axis: str, value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("name", next(iter(value.values()), axis))
    if isinstance(value, list):
        text = "+".join(map(str, value))
    elif isinstance(value, str):
        text = value
    else:  # a number or flag says little on its own: seed1, lr0.0001
        text = f"{axis.split('.')[-1]}{str(value).lower()}"
    return _NAME_UNSAFE.sub("_", text)


def _overrides(axis: str, value: Any, where: str) -> dict[str, Any]:
    if "." in axis or not isinstance(value, dict):
        return {axis: value}
    keys = {k: v for k, v in value.items() if k != "name"}
    if not keys:
        raise XstiltsError(f"{where}: a value of the named axis '{axis}' sets no key; give {{dotted.key: value, ...}}")
    return keys


def _grid_settings(data: dict[str, Any], path: Path) -> GridConfig:
    try:
        return GridConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"]))
        if error["type"] == "extra_forbidden":
            model: type[BaseModel] = GridConfig
            for part in error["loc"][:-1]:
                model = model.model_fields[part].annotation  # type: ignore[assignment]
            allowed = list(model.model_fields)
            raise XstiltsError(f"{path}: {where}: not a grid key.{did_you_mean(error['loc'][-1], allowed)} "
                               f"Allowed: {', '.join(allowed)}") from None
        raise XstiltsError(f"{path}: {where}: {error['msg']}") from None


def load_grid(path: Path, overrides: list[str] = (), data_dir: Path | None = None) -> Grid:
    """A grid file's runs: the base with every combination of the axes' values, validated."""
    path = Path(path)
    settings = _grid_settings(read_mapping(path, "grid keys", "grid file"), path)
    empty = [axis for axis, values in settings.axes.items() if not values]
    if empty:
        raise XstiltsError(f"{path}: axes.{empty[0]}: give at least one value")
    base_path = path.parent / settings.base if isinstance(settings.base, str) else path
    base = read_mapping(base_path) if isinstance(settings.base, str) else settings.base
    if "variants" in base:
        raise XstiltsError(f"{base_path}: variants: a grid's base stands for one run; make the variants an axis")
    runs = []
    axes = list(settings.axes.items())
    for number, combination in enumerate(itertools.product(*(values for _, values in axes))):
        labels = {axis: _label(axis, value) for (axis, _), value in zip(axes, combination)}
        keys: dict[str, Any] = {}
        for (axis, _), value in zip(axes, combination):
            keys.update(_overrides(axis, value, f"{path}: axes.{axis}"))
        variant = {"-".join(labels.values()): keys}
        for cfg in experiments_from({**base, "variants": variant}, path, overrides, data_dir):
            runs.append(GridRun(cfg.name, cfg, labels, run_identity(resolved_config(cfg))))
    dupes = repeated(r.name for r in runs)
    if dupes:
        raise XstiltsError(f"{path}: several runs would be named {', '.join(dupes)}; give the axes' values other names")
    return Grid(path, settings, runs)
