"""An experiment is one YAML file validated here; defaults live in the schema.

Phases form an ordered list: each training phase (`train`: one task, `multitask`: several
interleaved tasks) starts from the model the previous one wrote, each `evaluate` phase scores the
latest model. A `curriculum` phase is resolved before anything runs: a sequential one becomes
one training phase per stage, an interleaved one a `multitask` phase, and `order: permutations`
one experiment per order of its stages.

A study file is an experiment plus `variants: {name: {dotted.key: value, ...}}`: one run per
variant, named `<name>-<variant>`, so runs that should differ in one thing share everything else.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PositiveInt,
    Tag,
    ValidationError,
    model_validator,
)

from xstilts.errors import XstiltsError
from xstilts.languages import LANGUAGE_INFO
from xstilts.tasks.spec import Split

DATA_DIR_ENV = "XSTILTS_DATA_DIR"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    # auto: packaged demo files, else local files when a data dir is given, else the Hub.
    source: Literal["auto", "local", "hub"] = "auto"
    dir: Path | None = None
    bad_rows: Literal["fail", "skip"] = "fail"


# ---------------------------------------------------------------- what a training phase learns


class TaskEntry(_Strict):
    """One task a training phase learns, and the data it learns it from."""

    task: str
    # The task's pool: the first N examples of a seeded shuffle of its training data.
    max_examples: PositiveInt | None = None
    # Translate-train: the languages of the training data (default: the task's own training
    # language). The task's own language reads its usual source; any other language reads
    # `translated_dir`, laid out like the data dir (`<task>/train-<lang>.<ext>`).
    train_languages: list[str] | None = Field(None, min_length=1)
    translated_dir: Path | None = None

    @model_validator(mode="after")
    def _known_languages(self) -> "TaskEntry":
        unknown = [lang for lang in self.train_languages or [] if lang not in LANGUAGE_INFO]
        if unknown:
            raise ValueError(f"unknown language code(s) {', '.join(unknown)}; use ISO 639-1 codes such as de, sw")
        return self


def _entry_from_name(value: Any) -> Any:
    return {"task": value} if isinstance(value, str) else value


# `mnli` is short for `{task: mnli}`.
TaskEntryOrName = Annotated[TaskEntry, BeforeValidator(_entry_from_name)]


class UniformSampler(_Strict):
    type: Literal["uniform"]


class ProportionalSampler(_Strict):
    """p(task) proportional to the size of its pool."""

    type: Literal["proportional"] = "proportional"


class TemperatureSampler(_Strict):
    """p(task) proportional to min(n, cap) ** (1 / temperature), as jiant's temperature sampler."""

    type: Literal["temperature"]
    temperature: float = Field(2.0, gt=0)
    cap: PositiveInt | None = None


class FixedSampler(_Strict):
    """p(task) proportional to the weight given for it."""

    type: Literal["fixed"]
    weights: dict[str, Annotated[float, Field(ge=0)]]

    @model_validator(mode="after")
    def _some_weight(self) -> "FixedSampler":
        if not any(self.weights.values()):
            raise ValueError("at least one task needs a weight above 0")
        return self


SamplerConfig = Annotated[
    Union[UniformSampler, ProportionalSampler, TemperatureSampler, FixedSampler], Field(discriminator="type")
]


class MaskedLMConfig(_Strict):
    """Continued masked-language modelling on unlabeled text during a training phase: every
    task batch is paired with a batch of masked sentences, and `weight` x their loss is added."""

    # Paths or glob patterns: headerless .tsv (the `tsv_columns` hold text), .jsonl (the
    # `jsonl_fields`), or .txt (one sentence per line). Repeated sentences are kept once.
    files: list[str] = Field(min_length=1)
    exclude: list[str] = []  # file-name patterns left out, e.g. "*-en.tsv" for the non-English files
    tsv_columns: list[NonNegativeInt] = Field([0], min_length=1)
    jsonl_fields: list[str] = Field(["text"], min_length=1)
    max_sentences: PositiveInt | None = None  # a seeded subset
    weight: float = Field(1.0, gt=0)
    mlm_probability: float = Field(0.15, gt=0, lt=1)
    batch_size: PositiveInt = 16


class CurveConfig(_Strict):
    """Transfer and forgetting curves: English dev accuracy of each curve task and zero-shot
    accuracy of the target task's languages, scored at the end of the phase (so after every
    stage of a sequential curriculum) and every `every` optimizer steps. A task is scored only
    while the model has its head (xnli uses the head mnli trains)."""

    every: PositiveInt | None = None
    tasks: list[str] | None = None  # default: the phase's tasks; a curriculum's: all of its tasks
    target: str | None = None
    languages: list[str] | Literal["all"] = "all"
    split: Split = "dev"
    max_examples: PositiveInt | None = 200  # per dev set and per language


class TrainingOptions(_Strict):
    """How a training phase trains, whatever it trains on."""

    batch_size: PositiveInt = 16
    grad_accum_steps: PositiveInt = 1  # batches per optimizer step; each draws its own task
    lr: float = Field(3e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    # The input embedding matrix is most of a small multilingual model's parameters; freezing
    # it trains faster and keeps the multilingual word space intact.
    freeze_embeddings: bool = False
    # Or train it through sparse gradients: only the rows a batch used are updated
    # (lazy AdamW), which skips most of the optimizer's work on a 250k-piece vocabulary.
    sparse_embedding_updates: bool = True
    # Batches of similar-length examples: less padding, faster steps.
    group_by_length: bool = True
    # Dev evaluation (English; the mean over the phase's tasks) for best-checkpoint selection:
    # every N optimizer steps, at the end of each epoch and at the last step; `patience`
    # evaluations without improvement stop the phase.
    eval_every: PositiveInt | None = None
    patience: PositiveInt | None = None
    dev_max_examples: NonNegativeInt | None = 500  # 0: no dev evaluation, keep the last model
    checkpoint_every: PositiveInt = 100
    mlm: MaskedLMConfig | None = None
    curve: CurveConfig | None = None

    @model_validator(mode="after")
    def _one_embedding_mode(self) -> "TrainingOptions":
        if self.freeze_embeddings:
            self.sparse_embedding_updates = False  # nothing to update
        return self


class TrainPhase(TrainingOptions, TaskEntry):
    kind: Literal["train"] = "train"
    name: str
    # Length of training: `epochs` passes over the pool (default 1), or a `budget` of training
    # examples (batches never straddle the budget: the last one is cut to fit).
    epochs: PositiveInt | None = None
    budget: PositiveInt | None = None
    stage_of: str | None = None  # the curriculum phase this stage was resolved from

    @model_validator(mode="after")
    def _one_length(self) -> "TrainPhase":
        if self.epochs is not None and self.budget is not None:
            raise ValueError("give either epochs or budget, not both")
        return self


def _check_unique_tasks(entries: list[TaskEntry]) -> None:
    names = [e.task for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"a task appears more than once: {', '.join(dupes)}; "
                         "mix languages of one task with its train_languages")


def _check_fixed_weights(sampler: Any, names: list[str]) -> None:
    if isinstance(sampler, FixedSampler):
        missing = [n for n in names if n not in sampler.weights]
        unknown = [n for n in sampler.weights if n not in names]
        if missing or unknown:
            raise ValueError(f"sampler.weights must give one weight per task ({', '.join(names)}); "
                             f"missing: {', '.join(missing) or '-'}, not a task here: {', '.join(unknown) or '-'}")


class MultiTaskPhase(TrainingOptions):
    """Interleaved multi-task training: one encoder, a head per task (shared where the task
    registry says so); every batch comes from a task drawn by the sampler."""

    kind: Literal["multitask"]
    name: str
    tasks: list[TaskEntryOrName] = Field(min_length=1)
    sampler: SamplerConfig = ProportionalSampler()
    budget: PositiveInt | None = None  # training examples; default: the sum of the task pools
    stage_of: str | None = None

    @model_validator(mode="after")
    def _tasks(self) -> "MultiTaskPhase":
        _check_unique_tasks(self.tasks)
        _check_fixed_weights(self.sampler, [t.task for t in self.tasks])
        return self


def _stage_from_entries(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


# A stage: one task, or a list of tasks trained interleaved (a task group).
Stage = Annotated[list[TaskEntryOrName], BeforeValidator(_stage_from_entries), Field(min_length=1)]

_PERMUTATIONS_SHORTHAND = re.compile(r"^\s*permutations\((.*)\)\s*$", re.S)


class CurriculumPhase(TrainingOptions):
    """Intermediate tasks in an order, within one budget of training examples.

    `sequential`: one phase per stage, each with its share of the budget (equal by default),
    checkpointed after each stage. `interleaved`: one multi-task phase over all the tasks.
    `permutations`: one experiment per order of the stages, named `<name>-<task>-<task>...`.
    `order: permutations([mnli, qqp])` is short for `order: permutations, tasks: [mnli, qqp]`.
    """

    kind: Literal["curriculum"]
    name: str
    tasks: list[Stage] = Field(min_length=1)
    order: Literal["sequential", "interleaved", "permutations"] = "sequential"
    budget: PositiveInt
    shares: list[Annotated[float, Field(gt=0)]] | None = None  # relative budgets of the stages
    sampler: SamplerConfig = ProportionalSampler()  # interleaved training and task-group stages

    @model_validator(mode="before")
    @classmethod
    def _permutations_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("order"), str):
            match = _PERMUTATIONS_SHORTHAND.match(data["order"])
            if match:
                tasks = yaml.safe_load(match.group(1))
                if "tasks" in data and data["tasks"] != tasks:
                    raise ValueError("order: permutations([...]) names the tasks; leave out `tasks` or make them agree")
                data = {**data, "order": "permutations", "tasks": tasks}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "CurriculumPhase":
        entries = [e for stage in self.tasks for e in stage]
        _check_unique_tasks(entries)
        _check_fixed_weights(self.sampler, [e.task for e in entries])
        if self.shares is not None:
            if self.order == "interleaved":
                raise ValueError("shares split a sequential curriculum's budget; an interleaved one has no stages")
            if len(self.shares) != len(self.tasks):
                raise ValueError(f"shares: one per stage ({len(self.tasks)}), got {len(self.shares)}")
        if self.order == "interleaved" and any(len(stage) > 1 for stage in self.tasks):
            raise ValueError("an interleaved curriculum takes a flat list of tasks (task groups are for sequential stages)")
        if self.budget < len(self.tasks):
            raise ValueError(f"budget {self.budget} is smaller than the number of stages ({len(self.tasks)})")
        return self


class EvaluatePhase(_Strict):
    kind: Literal["evaluate"]
    name: str
    task: str
    split: Split = "dev"
    languages: list[str] | Literal["all"] = "all"
    max_examples: PositiveInt | None = None
    batch_size: PositiveInt = 64
    # Retrieval tasks: the encoder layer sentences are embedded from (0 = the embedding output;
    # checked against the model's depth); None: the format's default (see formats/retrieval.py).
    layer: NonNegativeInt | None = None


def _phase_kind(value: Any) -> str:
    # `kind` may be left out of training phases, the common case.
    return value.get("kind", "train") if isinstance(value, dict) else value.kind


# The tag of each tagged union member, as it appears in validation error locations.
_TAGGED_MODELS: dict[str, type[BaseModel]] = {
    "train": TrainPhase, "evaluate": EvaluatePhase, "multitask": MultiTaskPhase, "curriculum": CurriculumPhase,
    "uniform": UniformSampler, "proportional": ProportionalSampler, "temperature": TemperatureSampler,
    "fixed": FixedSampler,
}

Phase = Annotated[
    Union[
        Annotated[TrainPhase, Tag("train")],
        Annotated[EvaluatePhase, Tag("evaluate")],
        Annotated[MultiTaskPhase, Tag("multitask")],
        Annotated[CurriculumPhase, Tag("curriculum")],
    ],
    Discriminator(_phase_kind),
]
TrainingPhase = TrainPhase | MultiTaskPhase


class ExperimentConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$")
    model: str = "builtin:multilingual-e5-small"
    seed: int = 42
    max_length: PositiveInt = 128
    # Keep only the encoder's first N layers (a smaller variant of a model, e.g. for
    # model-size studies without a second checkpoint); None keeps them all.
    encoder_layers: PositiveInt | None = None
    pooling: Literal["mean", "cls"] = "mean"
    dropout: float = Field(0.1, ge=0, lt=1)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    log_with: list[Literal["tensorboard", "mlflow"]] = []
    output_dir: Path = Path("runs")
    data: DataConfig = DataConfig()
    phases: list[Phase] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_phase_names(self) -> "ExperimentConfig":
        names = [p.name for p in self.phases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"phase names must be unique; repeated: {', '.join(dupes)}")
        return self


def phase_tasks(phase: TrainPhase | MultiTaskPhase | EvaluatePhase) -> list[str]:
    return [t.task for t in phase.tasks] if isinstance(phase, MultiTaskPhase) else [phase.task]


def phase_entries(phase: TrainingPhase, where: str) -> list[tuple[TaskEntry, str]]:
    """The tasks a training phase learns, each with its place in the config (for errors)."""
    if isinstance(phase, MultiTaskPhase):
        return [(entry, f"{where}.tasks.{i}") for i, entry in enumerate(phase.tasks)]
    return [(phase, where)]


# ---------------------------------------------------------------- one-line errors


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema class that owns the last key of an error location (for 'allowed: ...')."""
    model: type[BaseModel] | None = ExperimentConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if part in _TAGGED_MODELS:
            model = _TAGGED_MODELS[part]
            continue
        field = model.model_fields.get(part) if model else None
        if field is None:
            return None
        # A union of models has no single owner; its tag is the next part of the location.
        models = _models_in(field.annotation)
        model = models[0] if len(models) == 1 else None
    return model


def describe_validation_error(err: ValidationError, source: str) -> str:
    """One line: where (file and config path), what is wrong, what is allowed."""
    # Unknown keys first: a typo explains the other errors it causes.
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(p for p in first["loc"] if p not in _TAGGED_MODELS)
    where = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        owner = _model_at(first["loc"])
        allowed = sorted(owner.model_fields) if owner else []
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        return f"{source}: unknown key '{where}'.{hint} Allowed here: {', '.join(allowed)}"
    got = f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else ""
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    return f"{source}: {where}: {first['msg']}{got}{more}"


# ---------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise XstiltsError(f"--set '{text}': expected key=value, e.g. --set seed=1 or --set phases.0.lr=1e-4")
    key, value = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value)


def apply_override(data: dict[str, Any], path: list[str], value: Any, flag: str = "--set") -> None:
    node: Any = data
    for part in path[:-1]:
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise XstiltsError(f"{flag} {'.'.join(path)}: '{part}' is not an index of a list of {len(node)}")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise XstiltsError(f"{flag} {'.'.join(path)}: '{last}' is not an index of a list of {len(node)}")
        node[int(last)] = value
    else:
        node[last] = value


# ---------------------------------------------------------------- curricula


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
    for number, (stage, budget) in enumerate(zip(cur.tasks, budgets), start=1):
        name = f"{cur.name}-{number}-{_stage_label(stage)}"
        if len(stage) == 1:
            phases.append({**options, **stage[0].model_dump(), "kind": "train", "name": name,
                           "budget": budget, "stage_of": cur.name})
        else:
            group_sampler = sampler
            if sampler["type"] == "fixed":  # the group's own tasks' weights
                group_sampler = {**sampler, "weights": {e.task: sampler["weights"][e.task] for e in stage}}
            phases.append({**options, "kind": "multitask", "name": name, "tasks": [e.model_dump() for e in stage],
                           "sampler": group_sampler, "budget": budget, "stage_of": cur.name})
    return phases


def resolve_curricula(cfg: ExperimentConfig, source: str) -> list[ExperimentConfig]:
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
            ordered = phase.model_copy(update={"tasks": stages,
                                               "order": "interleaved" if phase.order == "interleaved" else "sequential"})
            phases += _resolve_curriculum(ordered)
        data["phases"] = phases
        data["name"] = "-".join([cfg.name, *suffix])
        resolved.append(_validate(data, source))
    return resolved


# ---------------------------------------------------------------- loading


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


def load_experiments(path: Path, overrides: list[str] = (), data_dir: Path | None = None) -> list[ExperimentConfig]:
    """Read, expand study variants, override (`key.sub=value`, after the variant's own keys),
    fill the data dir (flag > env > file), validate, resolve curricula: the runs a file stands for."""
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
    experiments = []
    for source, variant_name, variant in _variants(data, path):
        for text in overrides:
            apply_override(variant, *parse_override(text))
        if variant_name is not None:
            variant["name"] = f"{variant.get('name')}-{variant_name}"
        if data_dir is not None:
            variant.setdefault("data", {})["dir"] = str(data_dir)
        elif os.environ.get(DATA_DIR_ENV) and not (variant.get("data") or {}).get("dir"):
            variant.setdefault("data", {})["dir"] = os.environ[DATA_DIR_ENV]
        experiments += resolve_curricula(_validate(variant, source), source)
    names = [e.name for e in experiments]
    dupes = sorted({n for n in names if names.count(n) > 1})
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
