"""The resolved run plan: a validated config with every name looked up once.

`plan_run` turns an `ExperimentConfig` into what the phases, evaluations, curves and attacks
work from: the task registry (built-in specs plus the config's `task_dirs`), each task's spec
and the spec of the task whose data trains it (xnli <- mnli), the languages an `all` stands
for, the data settings, the MLM text files and the run directory.
Nothing downstream looks a task or language name up again. Building the plan checks names and
cross-key rules (one line, with the config key path); `check_files` then checks that every file
a phase will read is there, before the first step.
"""

from __future__ import annotations

import fnmatch
import glob
from dataclasses import dataclass
from pathlib import Path

from xstilts.config.schema import (
    CurveConfig,
    EvaluatePhase,
    ExperimentConfig,
    FusePhase,
    MaskedLMConfig,
    TaskEntry,
    TrainingPhase,
    phase_entries,
)
from xstilts.data.loading import DataSettings, check_examples, translated_spec
from xstilts.data.registry import TaskRegistry, load_registry, resolve_languages
from xstilts.data.unlabeled import unlabeled_sentences
from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.models.lora import check_lora_adapter
from xstilts.models.multitask import is_saved_model, saved_heads
from xstilts.models.sources import configured_position_limit, encoder_config
from xstilts.tasks.spec import Split, TaskSpec


@dataclass(frozen=True)
class TrainingSource:
    """One language of a task's training data, and where it is read from."""

    spec: TaskSpec  # the spec whose files are read (a translated layout for translate-train)
    language: str
    data: DataSettings


@dataclass(frozen=True)
class TaskPlan:
    """One task a training phase learns."""

    entry: TaskEntry
    spec: TaskSpec  # the task trained: its head, and the name it is reported under
    train_spec: TaskSpec  # whose data trains it
    sources: tuple[TrainingSource, ...]
    where: str  # its key path in the config, for errors

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class ScoredSetPlan:
    """One set a phase scores: a task's split in one language, with the head of `spec`."""

    spec: TaskSpec  # scored with this task's head and metrics
    data_spec: TaskSpec  # whose files hold the examples (a curve task's training task's dev set)
    split: Split
    language: str


@dataclass(frozen=True)
class CurvePlan:
    config: CurveConfig
    dev_sets: tuple[ScoredSetPlan, ...]  # English dev set of each curve task
    target: TaskSpec | None
    target_sets: tuple[ScoredSetPlan, ...]  # the target task per zero-shot language


@dataclass(frozen=True)
class PhasePlan:
    index: int
    config: TrainingPhase | EvaluatePhase | FusePhase
    dir: Path
    tasks: tuple[TaskPlan, ...] = ()  # training phases
    curve: CurvePlan | None = None
    spec: TaskSpec | None = None  # evaluate phases: the task scored ...
    languages: tuple[str, ...] = ()  # ... in these languages

    @property
    def where(self) -> str:
        return f"phases.{self.index}"

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def training(self) -> bool:
        return not isinstance(self.config, EvaluatePhase | FusePhase)

    @property
    def makes_model(self) -> bool:
        """Whether the phase writes a model (`<phase>/model`): training and fuse phases."""
        return not isinstance(self.config, EvaluatePhase)

    @property
    def hands_on_model(self) -> bool:
        """Whether the next phase starts from this phase's model: not so for a fused
        curriculum's stages, which all start from the model before the curriculum."""
        return self.makes_model and getattr(self.config, "fused_into", None) is None

    @property
    def specs(self) -> list[TaskSpec]:
        """The tasks the phase reports under: those it trains, or the one it evaluates."""
        return [t.spec for t in self.tasks] if self.makes_model else [self.spec]

    @property
    def selects_higher(self) -> bool:
        """Dev selection keeps the largest score, or the smallest for a loss-like metric."""
        return self.tasks[0].spec.metrics[0].higher_is_better


@dataclass(frozen=True)
class RunPlan:
    config: ExperimentConfig
    run_dir: Path
    phases: tuple[PhasePlan, ...]
    tasks: TaskRegistry

    @property
    def data(self) -> DataSettings:
        return self.config.data

    @property
    def task_versions(self) -> dict[str, int]:
        return {spec.name: spec.version for p in self.phases for spec in p.specs}

    def encoder_config(self):
        """The transformers config of the encoder the run starts from (a saved xstilts model's
        encoder for `model: runs/<run>/<phase>/model`)."""
        model = self.config.model
        source = str(Path(model) / "encoder") if is_saved_model(Path(model)) else model
        return encoder_config(source, self.config.encoder_layers)

    def check_files(self) -> None:
        """Every file any phase will read is there and every row of it is valid, before the
        first step (the examples are kept for the run: each file is parsed once)."""
        for phase in self.phases:
            if phase.spec is not None:
                for lang in phase.languages:
                    check_examples(phase.spec, phase.config.split, lang, self.data)
                for lang, adapter in phase.config.language_adapters.items():
                    check_lora_adapter(adapter, self.encoder_config(), f"{phase.where}.language_adapters.{lang}")
            for task in phase.tasks:
                check_task_files(task)
                if phase.config.dev_max_examples != 0 and has_dev_set(task.train_spec):
                    check_examples(task.train_spec, "dev", task.train_spec.train_language, self.data)
            if phase.curve is not None:
                for scored in phase.curve.dev_sets + phase.curve.target_sets:
                    check_examples(scored.data_spec, scored.split, scored.language, self.data)
            if phase.training and phase.config.mlm:
                mlm = phase.config.mlm
                # Read to check, not kept: unlabeled text is cheap to read again.
                unlabeled_sentences(mlm_text_files(mlm, self.data.dir, phase.where), mlm.tsv_columns, mlm.jsonl_fields,
                                    phase.where)


def has_dev_set(train_spec: TaskSpec) -> bool:
    """Whether a training task has an English dev set to select the best model on."""
    return any("dev" in source.splits for source in train_spec.sources)


DATA_DIR_FIELD = "{data_dir}"


def mlm_text_files(cfg: MaskedLMConfig, data_dir: Path | None, where: str) -> tuple[Path, ...]:
    """The files `mlm.files` names (globs expanded, sorted) but `mlm.exclude`; each pattern
    must leave at least one file. `{data_dir}` in a pattern is the run's data folder, so a
    shipped config names local text without a machine's path."""
    files: list[Path] = []
    for pattern in cfg.files:
        if DATA_DIR_FIELD in pattern:
            if data_dir is None:
                raise XstiltsError(f"{where}.mlm.files: '{pattern}' names {DATA_DIR_FIELD} but no data folder is set; "
                                   "give --data-dir, data.dir or $XSTILTS_DATA_DIR")
            pattern = pattern.replace(DATA_DIR_FIELD, str(data_dir))
        matches = [Path(m) for m in sorted(glob.glob(pattern))
                   if not any(fnmatch.fnmatch(Path(m).name, e) for e in cfg.exclude)]
        if not matches:
            raise XstiltsError(f"{where}.mlm.files: '{pattern}' matches no file" + (" not excluded" if cfg.exclude else ""))
        files += matches
    return tuple(files)


def check_task_files(task: TaskPlan) -> None:
    for source in task.sources:
        check_examples(source.spec, "train", source.language, source.data)


def task_plan(entry: TaskEntry, data: DataSettings, where: str, tasks: TaskRegistry) -> TaskPlan:
    spec = _task(tasks, entry.task, f"{where}.task")
    train_spec = tasks.train_spec_of(spec)
    own = train_spec.train_language
    sources = []
    for lang in entry.train_languages or [own]:
        if lang == own:
            sources.append(TrainingSource(train_spec, lang, data))
        elif entry.translated_dir is None:
            example = translated_spec(train_spec).source("local").file.format(split="train", lang=lang)
            raise XstiltsError(f"{where}.train_languages: '{lang}' is not task '{train_spec.name}''s own training "
                               f"language ({own}); give translated_dir, a folder with {example}")
        else:
            translated = DataSettings(source="local", dir=entry.translated_dir, bad_rows=data.bad_rows)
            sources.append(TrainingSource(translated_spec(train_spec), lang, translated))
    return TaskPlan(entry, spec, train_spec, tuple(sources), where)


def _task(tasks: TaskRegistry, name: str, where: str) -> TaskSpec:
    try:
        return tasks.get(name)
    except XstiltsError as exc:
        raise XstiltsError(f"{where}: {exc}") from None


def _curve_plan(cfg: CurveConfig, tasks: TaskRegistry, phase_tasks: list[str], where: str) -> CurvePlan:
    dev_sets = []
    for i, name in enumerate(cfg.tasks or phase_tasks):
        spec = _task(tasks, name, f"{where}.curve.tasks.{i}")
        train_spec = tasks.train_spec_of(spec)
        # Scored with the curve task's head (xnli's is mnli's), on its training task's dev set.
        dev_sets.append(ScoredSetPlan(spec, train_spec, "dev", train_spec.train_language))
    target = _task(tasks, cfg.target, f"{where}.curve.target") if cfg.target else None
    target_sets = ()
    if target is not None:
        target_sets = tuple(ScoredSetPlan(target, target, cfg.split, lang)
                            for lang in resolve_languages(target, cfg.languages, f"{where}.curve.languages"))
    return CurvePlan(cfg, tuple(dev_sets), target, target_sets)


def _phase_plan(index: int, phase: TrainingPhase | EvaluatePhase | FusePhase, run_dir: Path, data: DataSettings,
                tasks: TaskRegistry) -> PhasePlan:
    where = f"phases.{index}"
    phase_dir = run_dir / phase.name
    if isinstance(phase, FusePhase):
        return PhasePlan(index, phase, phase_dir)
    if isinstance(phase, EvaluatePhase):
        spec = _task(tasks, phase.task, f"{where}.task")
        if phase.layer is not None and get_format(spec.format).has_head:
            raise XstiltsError(f"{where}.layer: task '{spec.name}' is scored by its head; `layer` is for "
                               "tasks scored from encoder states (retrieval: tatoeba, bucc2018, ...)")
        splits = sorted({name for source in spec.sources for name in source.splits})
        if phase.split not in splits:
            raise XstiltsError(f"{where}.split: task '{spec.name}' has no '{phase.split}' split; "
                               f"allowed: {', '.join(splits)}")
        languages = resolve_languages(spec, phase.languages, f"{where}.languages")
        for lang in phase.language_adapters:
            if lang not in languages:
                raise XstiltsError(f"{where}.language_adapters.{lang}: '{lang}' is not among the languages this "
                                   f"phase evaluates ({', '.join(languages)})")
        return PhasePlan(index, phase, phase_dir, spec=spec, languages=tuple(languages))
    learned = tuple(task_plan(entry, data, place, tasks) for entry, place in phase_entries(phase, where))
    directions = {t.spec.metrics[0].higher_is_better for t in learned}
    if len(directions) > 1:
        raise XstiltsError(f"{where}: the tasks' dev metrics disagree on whether higher is better "
                           f"({', '.join(f'{t.name}: {t.spec.metrics[0].name}' for t in learned)}); "
                           "train them in separate phases")
    curve = _curve_plan(phase.curve, tasks, [t.name for t in learned], where) if phase.curve else None
    return PhasePlan(index, phase, phase_dir, tasks=learned, curve=curve)


def _located_phase_plan(index: int, phase: TrainingPhase | EvaluatePhase | FusePhase, run_dir: Path, data: DataSettings,
                        tasks: TaskRegistry) -> PhasePlan:
    """`_phase_plan`; an error in a curriculum's stage also names the curriculum (the key path
    `phases.N` counts the resolved stages, not the file's phases)."""
    try:
        return _phase_plan(index, phase, run_dir, data, tasks)
    except XstiltsError as exc:
        stage_of = getattr(phase, "stage_of", None)
        if stage_of is None:
            raise
        raise XstiltsError(f"curriculum '{stage_of}', stage '{phase.name}': {exc}") from None


def _check_heads_trained_first(phases: tuple[PhasePlan, ...], model: str) -> None:
    """An evaluate phase scoring with a head needs that head: trained by a training phase before
    it, or saved with the model the run starts from (a pretrained encoder has no task heads)."""
    trained: dict[str, str] = {head: f"the saved model {model}" for head in saved_heads(model)}
    for phase in phases:
        for task in phase.tasks:
            trained.setdefault(task.spec.head, task.name)
        if phase.spec is not None and get_format(phase.spec.format).has_head and phase.spec.head not in trained:
            raise XstiltsError(f"{phase.where}: evaluate phase '{phase.name}' scores task '{phase.spec.name}' with "
                               f"its '{phase.spec.head}' head, which no training phase before it trains (heads "
                               f"trained by then: {', '.join(trained) or 'none'}); put a phase training "
                               f"'{phase.spec.name}' before it")


def _check_fused_stages(phases: tuple[PhasePlan, ...]) -> None:
    """A fuse phase combines LoRA stages that come right before it and name it (`fused_into`),
    and every such stage has its fuse phase (the resolved form of `order: fused`)."""
    by_name = {phase.name: phase for phase in phases}
    for phase in phases:
        fused_into = getattr(phase.config, "fused_into", None)
        if fused_into is not None and not isinstance(getattr(by_name.get(fused_into), "config", None), FusePhase):
            raise XstiltsError(f"{phase.where}.fused_into: no fuse phase '{fused_into}' in this run")
        if not isinstance(phase.config, FusePhase):
            continue
        for i, name in enumerate(phase.config.stages):
            stage = by_name.get(name)
            if (stage is None or not stage.training or stage.index > phase.index
                    or stage.config.fused_into != phase.name or stage.config.peft is None):
                raise XstiltsError(f"{phase.where}.stages.{i}: '{name}' is not a LoRA (peft) training phase before "
                                   f"it with fused_into: {phase.name}")


def plan_run(cfg: ExperimentConfig) -> RunPlan:
    """The plan of one experiment; raises a one-line XstiltsError naming the config key."""
    run_dir = cfg.output_dir / cfg.name
    limit = configured_position_limit(cfg.model)
    if limit is not None and cfg.max_length > limit:
        raise XstiltsError(f"max_length: {cfg.max_length} is more than model '{cfg.model}' takes ({limit} "
                           f"positions); allowed: 1 to {limit}")
    tasks = load_registry(cfg.task_dirs)
    phases = tuple(_located_phase_plan(i, phase, run_dir, cfg.data, tasks) for i, phase in enumerate(cfg.phases))
    _check_heads_trained_first(phases, cfg.model)
    _check_fused_stages(phases)
    return RunPlan(cfg, run_dir, phases, tasks)
