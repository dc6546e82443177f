"""Reading experiment files: study variants, overrides, the data-dir rule, validation and
curricula, into the runs a file stands for.

A study file is an experiment plus `variants: {name: {dotted.key: value, ...}}`: one run per
variant, named `<name>-<variant>`, so runs that should differ in one thing share everything else.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from xstilts.config.curriculum import resolve_curricula
from xstilts.config.messages import describe_validation_error
from xstilts.config.overrides import apply_override, parse_override
from xstilts.config.schema import ExperimentConfig
from xstilts.errors import XstiltsError, repeated

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


def _variants(data: dict[str, Any], path: Path) -> list[tuple[str, str | None, dict[str, Any]]]:
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


def read_config_file(path: Path) -> dict[str, Any]:
    """A config file's mapping, with one-line errors for a missing file or bad YAML."""
    path = Path(path)
    if not path.is_file():
        raise XstiltsError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"{path}:{mark.line + 1}" if mark else str(path)
        raise XstiltsError(f"{place}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise XstiltsError(f"{path}: expected a mapping of config keys at the top level")
    return data


def load_experiments(path: Path, overrides: list[str] = (), data_dir: Path | None = None) -> list[ExperimentConfig]:
    """Read, expand study variants, override (`key.sub=value`, after the variant's own keys),
    fill the data dir (`data_dir_from`), validate, resolve curricula: the runs a file stands for."""
    return experiments_from_data(read_config_file(path), Path(path), overrides, data_dir)


def experiments_from_data(data: dict[str, Any], path: Path, overrides: list[str] = (),
                          data_dir: Path | None = None) -> list[ExperimentConfig]:
    """`load_experiments` on a config mapping already read from `path` (named in errors)."""
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
        experiments += resolve_curricula(_validate(variant, source), lambda d, s=source: _validate(d, s))
    dupes = repeated(e.name for e in experiments)
    if dupes:
        raise XstiltsError(f"{path}: several runs would be named {', '.join(dupes)}; give the variants other names")
    return experiments


def load_config(path: Path, overrides: list[str] = (), data_dir: Path | None = None) -> ExperimentConfig:
    """The one experiment a config file stands for (see `load_experiments` for files with
    variants or permuted curricula)."""
    experiments = load_experiments(path, overrides, data_dir)
    if len(experiments) != 1:
        raise XstiltsError(f"{path} stands for {len(experiments)} runs ({', '.join(e.name for e in experiments)}); "
                           "run it with `xstilts run`, which runs them in turn")
    return experiments[0]
