"""One registry of task specs, loaded from the YAML files in `tasks/specs/`."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from xstilts.errors import XstiltsError, did_you_mean
from xstilts.formats import get_format
from xstilts.io import load_yaml, read_text
from xstilts.metrics import METRICS
from xstilts.tasks.spec import TaskSpec


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"


def checked_spec(data: dict) -> TaskSpec:
    """A spec that parses and that the rest of the house accepts: its metrics exist and its
    format can work with its inputs and labels. Raises ValidationError or ValueError."""
    spec = TaskSpec.model_validate(data)
    unknown_metrics = [m.name for m in spec.metrics if m.name not in METRICS]
    if unknown_metrics:
        raise ValueError(f"unknown metric(s) {unknown_metrics}; allowed: {', '.join(sorted(METRICS))}")
    get_format(spec.format).check_spec(spec)
    return spec


def load_spec_file(path: Path) -> TaskSpec:
    data = load_yaml(read_text(path), path)
    try:
        return checked_spec(data)
    except ValidationError as exc:
        raise XstiltsError(f"{path}: invalid task spec at {_first_error(exc)}") from None
    except ValueError as exc:
        raise XstiltsError(f"{path}: invalid task spec: {exc}") from None


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
        raise XstiltsError(f"unknown task '{name}'.{did_you_mean(name, tasks)} Known tasks: {', '.join(sorted(tasks))}")
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
