"""Experiment configs: the schema (`schema.py`), one-line validation errors (`messages.py`),
`--set` overrides (`overrides.py`), curricula resolved into phases (`curriculum.py`), reading
files with their variants and the data-dir rule (`loading.py`), and the resolved run plan every
phase receives (`plan.py`)."""

from xstilts.config.curriculum import resolve_curricula, split_budget
from xstilts.config.loading import DATA_DIR_ENV, data_dir_from, load_config, load_experiments, plan_experiments
from xstilts.config.messages import describe_validation_error
from xstilts.config.overrides import apply_override, parse_override
from xstilts.config.schema import (
    CurriculumPhase,
    CurveConfig,
    EvaluatePhase,
    ExperimentConfig,
    FixedSampler,
    FusePhase,
    MaskedLMConfig,
    MultiTaskPhase,
    ProportionalSampler,
    SamplerConfig,
    TaskEntry,
    TemperatureSampler,
    TrainingOptions,
    TrainingPhase,
    TrainPhase,
    UniformSampler,
    phase_entries,
    phase_tasks,
    resolved_config,
)

__all__ = [
    "DATA_DIR_ENV", "CurriculumPhase", "CurveConfig", "EvaluatePhase", "ExperimentConfig",
    "FixedSampler", "FusePhase", "MaskedLMConfig", "MultiTaskPhase", "ProportionalSampler", "SamplerConfig", "TaskEntry",
    "TemperatureSampler", "TrainPhase", "TrainingOptions", "TrainingPhase", "UniformSampler", "apply_override",
    "data_dir_from", "describe_validation_error", "load_config", "load_experiments", "parse_override",
    "plan_experiments",
    "phase_entries", "phase_tasks", "resolve_curricula", "resolved_config", "split_budget",
]
