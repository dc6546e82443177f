"""The experiment schema: every key a config file may hold, with its type and default.

Phases form an ordered list: each training phase (`train`: one task, `multitask`: several
interleaved tasks) starts from the model the previous one wrote, each `evaluate` phase scores the
latest model. A `curriculum` phase is resolved before anything runs (see `curriculum.py`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PositiveInt,
    Tag,
    model_validator,
)

from xstilts.data.loading import DataSettings
from xstilts.errors import repeated
from xstilts.languages import LANGUAGE_INFO
from xstilts.tasks.spec import Split


class _Strict(BaseModel):
    # Unknown keys are typos; inf and nan are never a learning rate, weight or ratio.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]*")
# A run folder's own entries, which a phase folder must not take the place of.
RUN_FOLDER_FILES = ("config.yaml", "metrics.json", "curves.json", "summary.md", "attack")


def _plain_name(value: str) -> str:
    if not _PLAIN_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain name: use letters, digits and . + _ - (not first), "
                         "no path separators")
    return value


def _phase_folder_name(value: str) -> str:
    if value in RUN_FOLDER_FILES:
        raise ValueError(f"{value!r} is an entry of the run folder ({', '.join(RUN_FOLDER_FILES)}); choose another name")
    return value


# Run and phase names become folder names (output_dir/<run>/<phase>): never a path.
Name = Annotated[str, AfterValidator(_plain_name)]
PhaseName = Annotated[str, AfterValidator(_plain_name), AfterValidator(_phase_folder_name)]


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
    def _known_languages(self) -> TaskEntry:
        unknown = [lang for lang in self.train_languages or [] if lang not in LANGUAGE_INFO]
        if unknown:
            raise ValueError(f"unknown language code(s) {', '.join(unknown)}; use ISO 639-1 codes such as de, sw")
        return self


def _comma_separated(value: Any) -> Any:
    # `--set phases.2.languages=de,sw` arrives as the string "de,sw", as `eval --languages` takes it.
    if isinstance(value, str) and value.strip() != "all":
        return [code.strip() for code in value.split(",") if code.strip()]
    return value


# `all`, a list of codes, or the codes comma-separated in one string.
Languages = Annotated[list[str] | Literal["all"], BeforeValidator(_comma_separated)]


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
    def _some_weight(self) -> FixedSampler:
        if not any(self.weights.values()):
            raise ValueError("at least one task needs a weight above 0")
        return self


SamplerConfig = Annotated[
    UniformSampler | ProportionalSampler | TemperatureSampler | FixedSampler, Field(discriminator="type")
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
    languages: Languages = "all"
    split: Split = "dev"
    max_examples: PositiveInt | None = 200  # per dev set and per language


class LoraOptions(_Strict):
    """LoRA adapters (through peft) on the encoder: only they and the heads train."""

    method: Literal["lora"] = "lora"
    r: PositiveInt = 8
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    # Module names to adapt, e.g. [query, value]; default: peft's for the architecture.
    target_modules: list[str] | None = Field(None, min_length=1)


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
    peft: LoraOptions | None = None
    # Keep this phase's model when the run is finished (true) or remove it (false); None: as the
    # run's `keep_models` says.
    keep_model: bool | None = None

    @model_validator(mode="after")
    def _one_embedding_mode(self) -> TrainingOptions:
        if self.freeze_embeddings or self.peft:
            self.sparse_embedding_updates = False  # nothing to update
        return self


class TrainPhase(TrainingOptions, TaskEntry):
    kind: Literal["train"] = "train"
    name: PhaseName
    # No task: a masked-LM-only phase on `mlm.files` (with `peft`, a MAD-X-style language
    # adapter); its budget and epochs count sentences, in batches of `mlm.batch_size`.
    task: str | None = None
    # Length of training: `epochs` passes over the pool (default 1), or a `budget` of training
    # examples (batches never straddle the budget: the last one is cut to fit).
    epochs: PositiveInt | None = None
    budget: PositiveInt | None = None
    stage_of: str | None = None  # the curriculum phase this stage was resolved from
    fused_into: str | None = None  # a fused curriculum's stage: the fuse phase combining its adapter

    @model_validator(mode="after")
    def _one_length(self) -> TrainPhase:
        if self.epochs is not None and self.budget is not None:
            raise ValueError("give either epochs or budget, not both")
        if self.task is None:
            if self.mlm is None:
                raise ValueError("a train phase needs a task, or mlm: {files: [...]} for masked-LM-only training")
            if self.max_examples or self.train_languages or self.translated_dir or self.curve:
                raise ValueError("a masked-LM-only phase (no task) takes no max_examples, train_languages, "
                                 "translated_dir or curve; use mlm.max_sentences")
        return self


def _check_unique_tasks(entries: list[TaskEntry]) -> None:
    dupes = repeated(e.task for e in entries)
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
    name: PhaseName
    tasks: list[TaskEntryOrName] = Field(min_length=1)
    sampler: SamplerConfig = ProportionalSampler()
    budget: PositiveInt | None = None  # training examples; default: the sum of the task pools
    stage_of: str | None = None
    fused_into: str | None = None

    @model_validator(mode="after")
    def _tasks(self) -> MultiTaskPhase:
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
    `fused`: one phase per stage as sequential, each training its own LoRA adapter (`peft`)
    from the model before the curriculum, then a `fuse` phase named as the curriculum that
    combines the adapters with `fusion_weights` (default equal) into the model the next phase
    starts from.
    """

    kind: Literal["curriculum"]
    name: PhaseName
    tasks: list[Stage] = Field(min_length=1)
    order: Literal["sequential", "interleaved", "permutations", "fused"] = "sequential"
    budget: PositiveInt
    shares: list[Annotated[float, Field(gt=0)]] | None = None  # relative budgets of the stages
    fusion_weights: list[Annotated[float, Field(gt=0)]] | None = None  # fused: one weight per stage
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
    def _consistent(self) -> CurriculumPhase:
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
        if self.order == "fused" and self.peft is None:
            raise ValueError("order: fused trains one LoRA adapter per stage and combines them; give "
                             "peft: {method: lora, r: 8} on this curriculum (or another order)")
        if self.fusion_weights is not None:
            if self.order != "fused":
                raise ValueError("fusion_weights combine the stage adapters of order: fused; this curriculum "
                                 f"is {self.order}")
            if len(self.fusion_weights) != len(self.tasks):
                raise ValueError(f"fusion_weights: one per stage ({len(self.tasks)}), got {len(self.fusion_weights)}")
        return self


class FusePhase(_Strict):
    """The stage adapters of a fused curriculum combined into one LoRA adapter on the model the
    stages started from (resolved from `order: fused`; see curriculum.py). Its model is what the
    next phase starts from."""

    kind: Literal["fuse"]
    name: PhaseName
    stages: list[PhaseName] = Field(min_length=1)  # the stage phases whose adapters are combined
    weights: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    stage_of: str | None = None
    keep_model: bool | None = None

    @model_validator(mode="after")
    def _one_weight_per_stage(self) -> FusePhase:
        if len(self.weights) != len(self.stages):
            raise ValueError(f"weights: one per stage ({len(self.stages)}), got {len(self.weights)}")
        return self


class EvaluatePhase(_Strict):
    kind: Literal["evaluate"]
    name: PhaseName
    task: str
    split: Split = "dev"
    languages: Languages = "all"
    max_examples: PositiveInt | None = None
    batch_size: PositiveInt = 64
    # Retrieval tasks: the encoder layer sentences are embedded from (0 = the embedding output;
    # checked against the model's depth); None: the format's default (see formats/retrieval.py).
    layer: NonNegativeInt | None = None
    # MAD-X-style zero-shot: a language's LoRA adapter (a saved peft adapter folder, e.g.
    # runs/<run>/<phase>/model/adapter of a masked-LM phase with peft) added to the model for
    # that language's evaluation; languages not listed use the model as it is.
    language_adapters: dict[str, Path] = {}

    @model_validator(mode="after")
    def _known_adapter_languages(self) -> EvaluatePhase:
        unknown = [lang for lang in self.language_adapters if lang not in LANGUAGE_INFO]
        if unknown:
            raise ValueError(f"language_adapters: unknown language code(s) {', '.join(unknown)}; "
                             "use ISO 639-1 codes such as de, sw")
        return self


def _phase_kind(value: Any) -> str | None:
    # `kind` may be left out of training phases, the common case. Anything but a mapping (or a
    # phase) has no kind: None makes pydantic report it (messages.py words that error).
    if isinstance(value, dict):
        return value.get("kind", "train")
    return getattr(value, "kind", None)


# The tag of each tagged union member, as it appears in validation error locations.
_TAGGED_MODELS: dict[str, type[BaseModel]] = {
    "train": TrainPhase, "evaluate": EvaluatePhase, "multitask": MultiTaskPhase, "curriculum": CurriculumPhase,
    "fuse": FusePhase,
    "uniform": UniformSampler, "proportional": ProportionalSampler, "temperature": TemperatureSampler,
    "fixed": FixedSampler,
}

Phase = Annotated[
    Annotated[TrainPhase, Tag("train")]
    | Annotated[EvaluatePhase, Tag("evaluate")]
    | Annotated[MultiTaskPhase, Tag("multitask")]
    | Annotated[CurriculumPhase, Tag("curriculum")]
    | Annotated[FusePhase, Tag("fuse")],
    Discriminator(_phase_kind),
]
TrainingPhase = TrainPhase | MultiTaskPhase


class ExperimentConfig(_Strict):
    name: Name
    model: str = "builtin:multilingual-e5-small"
    seed: int = 42
    max_length: PositiveInt = 128
    # Keep only the encoder's first N layers (a smaller variant of a model, e.g. for
    # model-size studies without a second checkpoint); None keeps them all.
    encoder_layers: PositiveInt | None = None
    pooling: Literal["mean", "cls"] = "mean"
    dropout: float = Field(0.1, ge=0, lt=1)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    # Experiment trackers, through accelerate (each needs its package; wandb: `xstilts[trackers]`).
    log_with: list[Literal["tensorboard", "mlflow", "wandb"]] = []
    output_dir: Path = Path("runs")
    data: DataSettings = DataSettings()
    # Folders of task spec YAML files added to the built-in tasks (checked by the same rules).
    task_dirs: list[Path] = []
    # Which trained models stay on disk once the run is finished: every phase's (all), the last
    # training phase's (final: what `eval` and `attack` use), or none (a grid's scores and
    # predictions only); a phase's `keep_model` decides for that phase.
    keep_models: Literal["all", "final", "none"] = "all"
    # A training phase identical to a finished one of another run in output_dir (same settings,
    # phases up to it, data and task versions) is copied from it instead of trained again.
    reuse_phases: bool = True
    phases: list[Phase] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_phase_names(self) -> ExperimentConfig:
        dupes = repeated(p.name for p in self.phases)
        if dupes:
            raise ValueError(f"phase names must be unique; repeated: {', '.join(dupes)}")
        return self


def resolved_config(cfg: ExperimentConfig) -> dict:
    """The config as saved with a run, each phase's name and kind first for people reading it."""
    data = json.loads(cfg.model_dump_json())
    data["phases"] = [{"name": p["name"], "kind": p["kind"], **p} for p in data["phases"]]
    return data


def phase_tasks(phase: TrainPhase | MultiTaskPhase | EvaluatePhase) -> list[str]:
    """The tasks a phase trains or scores (none for a masked-LM-only phase)."""
    if isinstance(phase, MultiTaskPhase):
        return [t.task for t in phase.tasks]
    return [phase.task] if phase.task else []


def phase_entries(phase: TrainingPhase, where: str) -> list[tuple[TaskEntry, str]]:
    """The tasks a training phase learns, each with its place in the config (for errors)."""
    if isinstance(phase, MultiTaskPhase):
        return [(entry, f"{where}.tasks.{i}") for i, entry in enumerate(phase.tasks)]
    return [(phase, where)] if phase.task else []
