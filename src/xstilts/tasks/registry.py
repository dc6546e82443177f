"""One registry of task specs, loaded from the YAML files in `tasks/specs/`."""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from xstilts.errors import XstiltsError
from xstilts.tasks.spec import TaskSpec


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"


def load_spec_file(path: Path) -> TaskSpec:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise XstiltsError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise XstiltsError(f"{path}: invalid task spec at {_first_error(exc)}") from None


def build_registry(paths: list[Path]) -> dict[str, TaskSpec]:
    """Parse every spec, refusing duplicate names, dangling `train_task`s and heads whose
    sharing tasks disagree on labels or format (a shared head must mean the same outputs)."""
    registry: dict[str, TaskSpec] = {}
    origin: dict[str, Path] = {}
    for path in sorted(paths):
        spec = load_spec_file(path)
        if spec.name in registry:
            raise XstiltsError(f"{path}: task '{spec.name}' is already defined in {origin[spec.name]}")
        registry[spec.name] = spec
        origin[spec.name] = path
    heads: dict[str, TaskSpec] = {}
    for spec in registry.values():
        if spec.train_task is not None and spec.train_task not in registry:
            raise XstiltsError(
                f"{origin[spec.name]}: train_task '{spec.train_task}' is not a registered task"
            )
        owner = heads.setdefault(spec.head, spec)
        if (owner.labels, owner.format) != (spec.labels, spec.format):
            raise XstiltsError(
                f"{origin[spec.name]}: head '{spec.head}' is shared with task '{owner.name}' "
                f"but labels/format differ ({spec.labels} vs {owner.labels})"
            )
    return registry


def builtin_spec_paths() -> list[Path]:
    folder = resources.files("xstilts.tasks") / "specs"
    return [Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")]


@lru_cache(maxsize=1)
def registry() -> dict[str, TaskSpec]:
    return build_registry(builtin_spec_paths())


def get_task(name: str) -> TaskSpec:
    tasks = registry()
    if name not in tasks:
        near = difflib.get_close_matches(name, tasks, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise XstiltsError(f"unknown task '{name}'.{hint} Known tasks: {', '.join(sorted(tasks))}")
    return tasks[name]


def resolve_languages(spec: TaskSpec, requested: list[str] | str, where: str) -> list[str]:
    """`all` or a list of codes, each of which the task must have."""
    if requested == "all" or requested == ["all"]:
        return list(spec.languages)
    langs = [requested] if isinstance(requested, str) else list(requested)
    for lang in langs:
        if lang not in spec.languages:
            raise XstiltsError(
                f"{where}: task '{spec.name}' has no language '{lang}'; "
                f"allowed: all, {', '.join(spec.languages)}"
            )
    return langs
