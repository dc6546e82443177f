"""Reading experiment files: study variants, overrides, the data-dir rule, validation and
curricula, into the runs a file stands for.

A study file is an experiment plus `variants: {name: {dotted.key: value, ...}}`: one run per
variant, named `<name>-<variant>`, so runs that should differ in one thing share everything else.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from xstilts.config.curriculum import resolve_curricula
from xstilts.config.messages import describe_validation_error
from xstilts.config.overrides import apply_override, parse_override
from xstilts.config.plan import RunPlan, plan_run
from xstilts.config.schema import ExperimentConfig
from xstilts.data.loading import DataSettings
from xstilts.errors import XstiltsError, repeated
from xstilts.io import load_yaml, read_text

DATA_DIR_ENV = "XSTILTS_DATA_DIR"


def data_dir_from(flag: Path | None, configured: str | Path | None = None) -> Path | None:
    """The data-dir rule, for every command: the --data-dir flag, else the config's `data.dir`
    (a finished run's, for commands on a run), else $XSTILTS_DATA_DIR."""
    if flag is not None:
        return Path(flag)
    if configured:
        return Path(configured)
    return Path(os.environ[DATA_DIR_ENV]) if os.environ.get(DATA_DIR_ENV) else None


def _validate(data: dict[str, Any], source: str) -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise XstiltsError(describe_validation_error(exc, source)) from None


def _variants(data: dict[str, Any], path: Path | str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(source label, variant name, config dict) per variant of a study file; the file itself otherwise."""
    variants = data.pop("variants", None)
    if variants is None:
        return [(str(path), None, data)]
    if not isinstance(variants, dict) or not variants or not all(isinstance(v, dict) for v in variants.values()):
        raise XstiltsError(f"{path}: variants: expected a mapping of variant name -> {{dotted.key: value}}, "
                           "e.g. variants: {proportional: {phases.0.order: interleaved}}")
    out = []
    for name, overrides in variants.items():
        variant = copy.deepcopy(data)
        for key, value in overrides.items():
            apply_override(variant, str(key).split("."), value, flag=f"{path}: variants.{name}:")
        out.append((f"{path} (variant {name})", str(name), variant))
    return out


def read_mapping(path: Path, what: str = "config keys", kind: str = "config file") -> dict[str, Any]:
    """A YAML file holding a mapping (a config, a study), with one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise XstiltsError(f"{kind} {path} does not exist")
    data = load_yaml(read_text(path), path) or {}
    if not isinstance(data, dict):
        raise XstiltsError(f"{path}: expected a mapping of {what} at the top level")
    return data


def load_experiments(path: Path, overrides: list[str] = (), data_dir: Path | None = None,
                     task_dirs: list[Path] = ()) -> list[ExperimentConfig]:
    """Read, expand study variants, override (`key.sub=value`, after the variant's own keys),
    fill the data dir (`data_dir_from`), add the `task_dirs` given on the command line to the
    config's, validate, resolve curricula: the runs a file stands for."""
    return [cfg for _, cfg in _sourced_experiments(read_mapping(path), path, overrides, data_dir, task_dirs)]


def experiments_from(data: dict[str, Any], path: Path | str, overrides: list[str] = (),
                     data_dir: Path | None = None, task_dirs: list[Path] = ()) -> list[ExperimentConfig]:
    """The runs a config mapping stands for (`load_experiments` of a file's contents); `path`
    names where the mapping came from in errors."""
    return [cfg for _, cfg in _sourced_experiments(data, path, overrides, data_dir, task_dirs)]


def plan_experiments(path: Path, overrides: list[str] = (), data_dir: Path | None = None,
                     task_dirs: list[Path] = ()) -> list[RunPlan]:
    """The plans of the runs a file stands for (`load_experiments`, then `plan_run`); a name
    the plan cannot resolve is one line naming the file and the key path."""
    plans = []
    for source, cfg in _sourced_experiments(read_mapping(path), path, overrides, data_dir, task_dirs):
        try:
            plans.append(plan_run(cfg))
        except XstiltsError as exc:
            raise XstiltsError(f"{source}: {exc}") from None
    return plans


def _sourced_experiments(data: dict[str, Any], path: Path | str, overrides: list[str], data_dir: Path | None,
                         task_dirs: list[Path]) -> list[tuple[str, ExperimentConfig]]:
    """(where it was read, the experiment) per run of a config mapping."""
    experiments = []
    for source, variant_name, variant in _variants(copy.deepcopy(data), path):
        for text in overrides:
            apply_override(variant, *parse_override(text))
        if variant_name is not None:
            variant["name"] = f"{variant.get('name')}-{variant_name}"
        data_cfg = variant.get("data") if isinstance(variant.get("data"), dict) else {}
        chosen = data_dir_from(data_dir, data_cfg.get("dir"))
        if chosen is not None and isinstance(variant.setdefault("data", {}), dict):
            variant["data"]["dir"] = str(chosen)
        if task_dirs and isinstance(variant.setdefault("task_dirs", []), list):
            variant["task_dirs"] += [str(d) for d in task_dirs]
        experiments += [(source, cfg) for cfg in resolve_curricula(_validate(variant, source),
                                                                  lambda d, s=source: _validate(d, s))]
    dupes = repeated(e.name for _, e in experiments)
    if dupes:
        raise XstiltsError(f"{path}: several runs would be named {', '.join(dupes)}; give the variants other names")
    return experiments


def load_config(path: Path, overrides: list[str] = (), data_dir: Path | None = None,
                task_dirs: list[Path] = ()) -> ExperimentConfig:
    """The one experiment a config file stands for (see `load_experiments` for files with
    variants or permuted curricula)."""
    experiments = load_experiments(path, overrides, data_dir, task_dirs)
    if len(experiments) != 1:
        raise XstiltsError(f"{path} stands for {len(experiments)} runs ({', '.join(e.name for e in experiments)}); "
                           "run it with `xstilts run`, which runs them in turn")
    return experiments[0]


class EvalSettings(NamedTuple):
    """How `xstilts eval` encodes and scores: a run's own settings unless the user overrides them."""

    max_length: int
    seed: int  # of the max_examples subset
    mixed_precision: str
    data: DataSettings
    layer: int | None  # retrieval's embedding layer: the run's last evaluate phase of the task sets it
    origin: str  # where they came from, said on the terminal


def saved_run_config(model_dir: Path) -> tuple[ExperimentConfig, Path] | None:
    """The config a run saved (runs/<run>/config.yaml) for one of its models
    (runs/<run>/<phase>/model), or None for a model outside a run."""
    saved = Path(model_dir).resolve().parent.parent / "config.yaml"
    if not saved.is_file():
        return None
    return _validate(load_yaml(read_text(saved), saved) or {}, str(saved)), saved


def eval_settings(model_dir: Path, task: str, max_length: int | None = None, seed: int | None = None,
                  bad_rows: str | None = None, data_dir: Path | None = None) -> EvalSettings:
    """Every setting that changes a model's scores, taken from the run the model belongs to (so
    that `eval` scores it as the run did), each replaced by the user's value when one is given;
    the schema's defaults for a model outside a run."""
    found = saved_run_config(model_dir)
    layer = None
    if found:
        run = found[0]
        run_values = (run.max_length, run.seed, run.mixed_precision, run.data)
        layer = next((p.layer for p in reversed(run.phases) if p.kind == "evaluate" and p.task == task), None)
    else:
        fields = ExperimentConfig.model_fields
        run_values = (fields["max_length"].default, fields["seed"].default, fields["mixed_precision"].default,
                      DataSettings())
    run_max_length, run_seed, run_precision, run_data = run_values
    settings = EvalSettings(
        max_length=run_max_length if max_length is None else max_length,
        seed=run_seed if seed is None else seed,
        mixed_precision=run_precision,
        data=DataSettings(source=run_data.source, dir=data_dir_from(data_dir, run_data.dir),
                          bad_rows=bad_rows or run_data.bad_rows),
        layer=layer,
        origin="",
    )
    overridden = [f"--{name.replace('_', '-')}" for name, value in
                  (("max_length", max_length), ("seed", seed), ("bad_rows", bad_rows)) if value is not None]
    described = (f"max_length {settings.max_length}, seed {settings.seed}, mixed_precision "
                 f"{settings.mixed_precision}, bad_rows {settings.data.bad_rows}"
                 + (f", layer {layer}" if layer is not None else ""))
    origin = f"from the run's {found[1]}" if found else "defaults (the model is not in a run folder)"
    return settings._replace(origin=f"{described}: {origin}"
                             + (f", except {', '.join(overridden)}" if overridden else ""))
