"""The declarative task contract: one `TaskSpec` per task family, read from YAML.

A spec names what a task is (format, labels, languages, metrics, head) and where its data
lives (one or more sources). Code never special-cases a task by name: everything a phase
needs to train or evaluate a task is in its spec.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xstilts.languages import LANGUAGE_INFO

# Closed list of formats; each is implemented by one class in xstilts/formats/.
TaskFormat = Literal["single_classification", "pair_classification", "multiple_choice",
                     "span_extraction", "token_tagging", "retrieval"]
Split = Literal["train", "dev", "test"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Strict):
    name: str  # a key of xstilts.evaluation.metrics.METRICS
    aggregation: Literal["mean"] = "mean"
    higher_is_better: bool = True


class Inputs(_Strict):
    """Which canonical fields of a row feed the model.

    Classification formats use `texts` (one field, or two for a pair). Multiple choice uses
    `context`, an optional `question` (a field whose value is looked up in
    `question_templates`, e.g. COPA's cause/effect) and `choices`.
    """

    texts: list[str] = []
    context: str | None = None
    question: str | None = None
    question_templates: dict[str, str] = {}
    choices: list[str] = []
    label: str = "label"


class LocalSource(_Strict):
    """Files in the XTREME layout under the data directory (`--data-dir`)."""

    kind: Literal["local"] = "local"
    # Relative path with {split} and optionally {lang}, e.g. "xnli/{split}-{lang}.tsv".
    file: str
    splits: dict[Split, str]
    # Column names for headerless TSV files; None means the first line is the header.
    columns: list[str] | None = None
    # Source field name -> canonical field name (e.g. text_a -> premise).
    rename: dict[str, str] = {}


class PackagedSource(LocalSource):
    """Files shipped inside the xstilts package (the hand-written demo data)."""

    kind: Literal["packaged"] = "packaged"  # type: ignore[assignment]


class HubSource(_Strict):
    """A dataset on the Hugging Face Hub, loaded with `datasets.load_dataset`."""

    kind: Literal["hub"] = "hub"
    dataset: str
    # Dataset config; may contain {lang} (e.g. XNLI's per-language configs).
    config: str | None = None
    splits: dict[Split, str]
    rename: dict[str, str] = {}


Source = Annotated[Union[LocalSource, PackagedSource, HubSource], Field(discriminator="kind")]


class TaskSpec(_Strict):
    name: str
    version: int
    description: str
    format: TaskFormat
    labels: list[str] = []
    inputs: Inputs
    languages: list[str] = Field(min_length=1)
    train_language: str = "en"
    # The task whose English training data trains this one (xnli -> mnli), as in XTREME.
    train_task: str | None = None
    # Tasks with the same head key share one head; the registry checks their labels agree.
    head: str
    metrics: list[MetricSpec] = Field(min_length=1)
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "TaskSpec":
        unknown = [lang for lang in self.languages if lang not in LANGUAGE_INFO]
        if unknown:
            raise ValueError(f"unknown language code(s) {unknown}; use ISO 639-1 codes")
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("languages are listed more than once")
        from xstilts.evaluation.metrics import METRICS
        from xstilts.formats import get_format  # formats import this module

        unknown_metrics = [m.name for m in self.metrics if m.name not in METRICS]
        if unknown_metrics:
            raise ValueError(f"unknown metric(s) {unknown_metrics}; allowed: {', '.join(sorted(METRICS))}")
        get_format(self.format).check_spec(self)
        kinds = [s.kind for s in self.sources]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"more than one source of the same kind: {kinds}")
        return self

    def source(self, kind: str) -> LocalSource | PackagedSource | HubSource | None:
        return next((s for s in self.sources if s.kind == kind), None)
