"""The task registry: the built-in YAML specs in `tasks/specs/` plus those of the user's task
folders (`task_dirs` in a config, `--task-dir` on the command line), every one checked by the
same rules. A command builds its registry once and carries it (the run plan holds it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from xstilts.errors import XstiltsError, did_you_mean
from xstilts.io import load_yaml, read_text
from xstilts.metrics import METRICS
from xstilts.tasks.format_rules import check_format_fit
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
    check_format_fit(spec)
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
    sharing tasks disagree on labels or format (a shared head must mean the same outputs).
    Paths are read in order: a later file cannot redefine an earlier one's task."""
    registry: dict[str, TaskSpec] = {}
    origin: dict[str, Path] = {}
    for path in paths:
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
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml"))


def task_dir_paths(task_dirs: Iterable[Path], where: str = "task_dirs") -> list[Path]:
    """The `*.yaml` specs of each user task folder; a folder that is missing or holds no spec
    is refused (a typo would otherwise silently drop tasks)."""
    paths = []
    for i, folder in enumerate(task_dirs):
        folder = Path(folder)
        if not folder.is_dir():
            raise XstiltsError(f"{where}.{i}: {folder} is not a folder (a folder of task spec .yaml files)")
        found = sorted(folder.glob("*.yaml"))
        if not found:
            raise XstiltsError(f"{where}.{i}: {folder} holds no .yaml task spec")
        paths += found
    return paths


@dataclass(frozen=True)
class TaskRegistry:
    """The tasks a command knows, by name: the built-in ones and those of `dirs`."""

    tasks: dict[str, TaskSpec]
    dirs: tuple[Path, ...] = ()

    def get(self, name: str) -> TaskSpec:
        if name not in self.tasks:
            where = f" (built-in and in {', '.join(map(str, self.dirs))})" if self.dirs else ""
            raise XstiltsError(f"unknown task '{name}'.{did_you_mean(name, self.tasks)} "
                               f"Known tasks{where}: {', '.join(sorted(self.tasks))}")
        return self.tasks[name]

    def train_spec_of(self, spec: TaskSpec) -> TaskSpec:
        """The task whose English training data trains `spec` (xnli -> mnli, as in XTREME)."""
        return self.get(spec.train_task) if spec.train_task else spec

    def specs(self) -> list[TaskSpec]:
        return sorted(self.tasks.values(), key=lambda s: s.name)


def load_registry(task_dirs: Sequence[Path] = (), where: str = "task_dirs") -> TaskRegistry:
    """The built-in tasks plus those of `task_dirs`, checked together (one namespace)."""
    if not task_dirs:
        return builtin_registry()
    tasks = build_registry(builtin_spec_paths() + task_dir_paths(task_dirs, where))
    return TaskRegistry(tasks, tuple(Path(d) for d in task_dirs))


@lru_cache(maxsize=1)
def builtin_registry() -> TaskRegistry:
    # The shipped specs are package data: parsed once per process.
    return TaskRegistry(build_registry(builtin_spec_paths()))


def registry() -> dict[str, TaskSpec]:
    """The built-in tasks by name."""
    return builtin_registry().tasks


def get_task(name: str) -> TaskSpec:
    """A built-in task; commands and runs look tasks up in their own `TaskRegistry`."""
    return builtin_registry().get(name)


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
