"""The study file (`studies/<name>.yaml`): a research question, the runs it needs per setup
(a grid over one base config, or config files), and typed, machine-checkable claims, each with
its source. Validated like experiment configs: one line naming the file and key path.

    name: phang2020
    title: English intermediate-task training improves zero-shot cross-lingual transfer too
    question: Does English intermediate-task training help zero-shot transfer, and on which targets?
    references: {phang2020: "Phang et al. 2020. English Intermediate-Task Training ... arXiv:2005.13013"}
    setups:
      offline:                       # `xstilts study run STUDY --setup offline`
        grid:
          base: {...an experiment config...}     # or a path, relative to the study file
          axes:                      # one run per combination of levels, named <base name>-<level>-<level>
            intermediate: {none: {phases.intermediate: null}, mnli: {phases.intermediate.task: mnli}}
            seed: [1, 2]             # a list: levels of the key named by the axis (seed1, seed2)
        attacks: [{task: xnli, perturbations: [char-noise], max_examples: 200}]   # run after each run
        execution: {resources: {cpus: 1}, slurm: {partition: gpu}}   # as a grid file's keys
        untestable: {hellaswag-helps: "HellaSwag is not in the offline data"}
        notes: ["TyDiQA-GoldP English train stands in for SQuAD"]
    claims:
      - id: mnli-helps-xnli
        type: difference             # difference | ranking | slope | slope_difference | degradation
        statement: MNLI intermediate training improves XNLI
        source: {reference: phang2020, where: Table 2}
        a: {levels: {intermediate: mnli}}        # conditions select runs by grid level,
        b: {levels: {intermediate: none}}        # config field (config: {phases.0.task: mnli}) or name glob
        measure: {task: xnli, metric: accuracy, languages: zero-shot}
        expect: {direction: increase, size: 1.5, tolerance: 1.0}      # points; size optional
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Tag, model_validator
from pydantic import Discriminator as _Discriminator

from xstilts.config.grid import ExecutionSettings
from xstilts.errors import repeated
from xstilts.typology.distances import DISTANCE_KINDS

AxisLevels = dict[str, dict[str, Any]] | list[Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Grid(_Strict):
    """Every combination of the axes' levels applied to one base config."""

    base: dict[str, Any] | Path  # an experiment config (variants not allowed), inline or a file
    axes: dict[str, AxisLevels] = Field(min_length=1)

    @model_validator(mode="after")
    def _levels(self) -> Grid:
        for axis, levels in self.axes.items():
            if not levels:
                raise ValueError(f"axis '{axis}' has no levels")
            if isinstance(levels, list) and any(isinstance(v, (dict, list)) for v in levels):
                raise ValueError(f"axis '{axis}': a list gives values of the key '{axis}' (e.g. seed: [1, 2]); "
                                 "give {level: {dotted.key: value}} for anything else")
        return self


class Condition(_Strict):
    """Which runs a side of a claim is measured on: every run matching all that is given."""

    levels: dict[str, str | list[str]] = {}  # grid axis -> level (or any of several)
    config: dict[str, Any] = {}  # dotted key of the resolved config -> value, e.g. phases.0.task: mnli
    name: str | None = None  # a glob on the run name
    label: str | None = None  # how the report names it (default: from what is given)

    @model_validator(mode="after")
    def _selects(self) -> Condition:
        if not self.levels and not self.config and self.name is None:
            raise ValueError("a condition selects runs by levels, config or name; give at least one")
        return self

    def describe(self) -> str:
        if self.label:
            return self.label
        parts = [f"{axis}={'|'.join(v) if isinstance(v, list) else v}" for axis, v in self.levels.items()]
        parts += [f"{key}={value}" for key, value in self.config.items()]
        parts += [f"name~{self.name}"] if self.name else []
        return ", ".join(parts)


class AttackSpec(_Strict):
    """An `xstilts attack` run on every run of the setup after it finishes (skipped when saved)."""

    task: str
    languages: list[str] | Literal["all"] = "all"
    perturbations: list[str] = Field(min_length=1)
    max_examples: int | None = Field(None, gt=0)
    strength: float | None = Field(None, gt=0, le=1)
    runs: Condition | None = None  # the runs to attack (default: every run); their model needs the task's head


class Setup(_Strict):
    """Where and how the study's runs are made: e.g. `offline` (this machine) or `gpu`."""

    description: str = ""
    grid: Grid | None = None
    configs: list[Path] = []  # experiment files (with their variants), relative to the study file
    attacks: list[AttackSpec] = []
    untestable: dict[str, str] = {}  # claim id -> why this setup cannot test it
    notes: list[str] = []  # substitutions and caveats, repeated in the report's limitations
    # Where the runs go (`study run --executor local|ray|slurm`): a grid file's retries, store,
    # resources, ray and slurm keys.
    execution: ExecutionSettings = ExecutionSettings()

    @model_validator(mode="after")
    def _some_runs(self) -> Setup:
        if self.grid is None and not self.configs:
            raise ValueError("a setup needs a grid or configs (or both)")
        return self


class Measure(_Strict):
    """What is measured on a condition's runs: a task's metric over languages, in points; or
    the mean over several tasks of each one's first metric (as XTREME averages its tasks)."""

    task: str | list[str]
    metric: str | None = None  # default: the evaluation's first metric (accuracy, mlqa_f1, span_f1, ...)
    phase: str | None = None  # default: the run's last evaluate phase of the task
    # zero-shot: mean over every language but the training one; all: every language; or a list.
    languages: Literal["zero-shot", "all"] | list[str] = "zero-shot"

    @model_validator(mode="after")
    def _tasks(self) -> Measure:
        if isinstance(self.task, list) and (not self.task or self.metric is not None):
            raise ValueError("a list of tasks is measured by each task's first metric: give tasks, not a metric")
        return self

    @property
    def tasks(self) -> list[str]:
        return self.task if isinstance(self.task, list) else [self.task]


class Expectation(_Strict):
    """The claimed effect, in points (differences) or points per unit of distance (slopes).
    `none`: the claim is that there is no effect beyond `tolerance` either way."""

    direction: Literal["increase", "decrease", "none"]
    size: float | None = None
    tolerance: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Expectation:
        if self.direction == "none" and self.tolerance is None:
            raise ValueError("direction none needs a tolerance: the largest effect that still counts as none")
        if self.direction == "none" and self.size is not None:
            raise ValueError("direction none claims no effect; leave out size")
        if self.size is not None and self.tolerance is None:
            raise ValueError("an expected size needs a tolerance (how far the effect may be from it)")
        if self.size is not None and (self.size > 0) != (self.direction == "increase"):
            raise ValueError(f"size {self.size} does not have the sign of direction {self.direction}")
        return self


class Source(_Strict):
    reference: str  # a key of the study's references
    where: str = ""  # e.g. "Table 2", "Section 4.1"


class _Claim(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    statement: str
    source: Source


class DifferenceClaim(_Claim):
    """measure(a) - measure(b)."""

    type: Literal["difference"]
    a: Condition
    b: Condition
    measure: Measure
    expect: Expectation


class RankingClaim(_Claim):
    """The conditions ordered best first on the measure."""

    type: Literal["ranking"]
    order: list[Condition] = Field(min_length=2)
    measure: Measure


class _OverDistance(_Claim):
    """A claim on OLS slopes of one task's measure (points) per language against the language's
    typological distance from the training language."""

    measure: Measure
    distance: Literal[DISTANCE_KINDS] = "syntactic"  # type: ignore[valid-type]
    expect: Expectation

    @model_validator(mode="after")
    def _one_task(self):
        if len(self.measure.tasks) != 1:
            raise ValueError("a slope is fitted over one task's languages; give one task")
        return self


class SlopeClaim(_OverDistance):
    """The slope of one condition."""

    type: Literal["slope"]
    condition: Condition


class SlopeDifferenceClaim(_OverDistance):
    """slope(a) - slope(b): positive when the measure falls less with distance under a."""

    type: Literal["slope_difference"]
    a: Condition
    b: Condition


class DegradationClaim(_Claim):
    """Accuracy lost under perturbations (clean minus perturbed, points, from `xstilts attack`
    results in the runs), of condition a; with b, degradation(a) - degradation(b)."""

    type: Literal["degradation"]
    a: Condition
    b: Condition | None = None
    task: str
    perturbations: list[str] = Field(min_length=1)
    languages: Literal["all"] | list[str] = "all"
    expect: Expectation


# The claim models by their `type` tag (for one-line validation errors).
TAGGED_MODELS: dict[str, type[BaseModel]] = {
    "difference": DifferenceClaim, "ranking": RankingClaim, "slope": SlopeClaim,
    "slope_difference": SlopeDifferenceClaim, "degradation": DegradationClaim,
}


def _claim_type(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


Claim = Annotated[
    Annotated[DifferenceClaim, Tag("difference")]
    | Annotated[RankingClaim, Tag("ranking")]
    | Annotated[SlopeClaim, Tag("slope")]
    | Annotated[SlopeDifferenceClaim, Tag("slope_difference")]
    | Annotated[DegradationClaim, Tag("degradation")],
    _Discriminator(_claim_type),
]


class Study(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: str
    question: str
    references: dict[str, str] = Field(min_length=1)  # key -> full citation
    setups: dict[str, Setup] = Field(min_length=1)
    claims: list[Claim] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        dupes = repeated(c.id for c in self.claims)
        if dupes:
            raise ValueError(f"claim ids must be unique; repeated: {', '.join(dupes)}")
        ids = {c.id for c in self.claims}
        for claim in self.claims:
            if claim.source.reference not in self.references:
                raise ValueError(f"claim '{claim.id}': source.reference '{claim.source.reference}' is not in "
                                 f"references ({', '.join(self.references)})")
        for name, setup in self.setups.items():
            unknown = sorted(set(setup.untestable) - ids)
            if unknown:
                raise ValueError(f"setups.{name}.untestable: no claim with id {', '.join(unknown)}")
        return self

