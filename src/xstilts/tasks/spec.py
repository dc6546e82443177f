"""The declarative task contract: one `TaskSpec` per task family, read from YAML.

A spec names what a task is (format, labels, languages, metrics, head) and where its data
lives (one or more sources). Code never special-cases a task by name: everything a phase
needs to train or evaluate a task is in its spec.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from xstilts.errors import repeated
from xstilts.languages import LANGUAGE_INFO

# Closed list of formats; each is implemented by one class in xstilts/formats/.
TaskFormat = Literal["single_classification", "pair_classification", "multiple_choice",
                     "span_extraction", "token_tagging", "retrieval"]
Split = Literal["train", "dev", "test"]
# Rows of a split that lists several parts (`test: [dev, test]`) carry their part's position
# (0, 1, ...) in this field: BUCC picks its threshold on the first part and scores the last.
SPLIT_PART = "split_part"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Strict):
    name: str  # a key of xstilts.metrics.METRICS (checked by the registry)
    # Dev selection keeps the checkpoint with the best first metric: the largest, or the
    # smallest for a loss-like metric. Languages are averaged with the plain mean.
    higher_is_better: bool = True


class Inputs(_Strict):
    """Which canonical fields of a row feed the model.

    Classification formats use `texts` (one field, or two for a pair). Multiple choice uses
    `context`, an optional `question` (a field whose text is appended to the context, or whose
    value is looked up in `question_templates` when they are given, e.g. COPA's cause/effect)
    and `choices` (one field per choice), or `choices_field` (one field holding the list of
    choices; a dotted path reaches into a nested field, e.g. CommonsenseQA's `choices.text`). Span extraction uses
    `question` and `context`, with `label` naming the answers field.
    """

    texts: list[str] = []
    context: str | None = None
    question: str | None = None
    question_templates: dict[str, str] = {}
    choices: list[str] = []
    choices_field: str | None = None
    label: str = "label"
    # Where the data's integer labels start: 1 for 1-based labels (SIQA's "1", "2", "3").
    label_offset: int = 0


class LocalSource(_Strict):
    """Files in the XTREME layout under the data directory (`--data-dir`)."""

    kind: Literal["local"] = "local"
    # Relative path with {split} and optionally {lang}, e.g. "xnli/{split}-{lang}.tsv".
    file: str
    # A list of file splits is read as one split, in order, each row tagged with SPLIT_PART.
    splits: dict[Split, str | list[str]]
    # Column names for headerless TSV files; None means the first line is the header.
    columns: list[str] | None = None
    # Source field name -> canonical field name (e.g. text_a -> premise).
    rename: dict[str, str] = {}
    # How a file holds its rows. `rows`: one row per line (.tsv/.jsonl) or object (.json).
    # Token tagging, one sentence per row with `columns` naming its two fields (words, tags):
    # `sentences`, XTREME's udpos/panx files (`word<TAB>tag` lines, a blank line after each
    # sentence); `jiant_ccg`, jiant's CCG files (space-separated words, a tab, space-separated
    # tags, per line), whose tags become their ids from the `tags_to_id.json` beside the file.
    # `bitext`: BUCC's files, `file` naming their common prefix (see tasks/bitext.py).
    layout: Literal["rows", "sentences", "jiant_ccg", "bitext"] = "rows"
    # A split carved out of a file by row range: split -> [start, stop), 0-based positions of
    # the file's rows (header excluded), for disjoint splits of one file (PAWS-X dev offline).
    rows: dict[Split, tuple[NonNegativeInt, PositiveInt]] = {}

    @model_validator(mode="after")
    def _sentence_columns(self) -> LocalSource:
        if self.layout in ("sentences", "jiant_ccg") and (self.columns is None or len(self.columns) != 2):
            raise ValueError(f"layout '{self.layout}' needs columns naming its two fields, e.g. [tokens, tags]")
        return self

    @model_validator(mode="after")
    def _row_ranges(self) -> LocalSource:
        for split, (start, stop) in self.rows.items():
            if split not in self.splits:
                raise ValueError(f"rows.{split}: no such split; splits here: {', '.join(self.splits)}")
            if start >= stop:
                raise ValueError(f"rows.{split}: [{start}, {stop}) is empty; give [start, stop) with start < stop")
        return self


class PackagedSource(LocalSource):
    """Files shipped inside the xstilts package (the hand-written demo data)."""

    kind: Literal["packaged"] = "packaged"  # type: ignore[assignment]


class HubSource(_Strict):
    """A dataset on the Hugging Face Hub, loaded with `datasets.load_dataset`."""

    kind: Literal["hub"] = "hub"
    dataset: str
    # Dataset config; may contain {lang} (e.g. XNLI's per-language configs).
    config: str | None = None
    # A list of Hub splits is read as one split, in order (ANLI's rounds: train_r1, train_r2, ...),
    # each row tagged with SPLIT_PART.
    splits: dict[Split, str | list[str]]
    rename: dict[str, str] = {}
    # The dataset's own code of a language, where it is not the ISO 639-1 code: the config's
    # {lang_code} (Tatoeba's "tatoeba.{lang_code}": cmn for zh, pes for fa, swh for sw, ...).
    language_codes: dict[str, str] = {}
    # For datasets with every language in one split (TyDiQA-GoldP): language -> the prefix of
    # its rows' `id`; other rows are left out.
    id_prefixes: dict[str, str] = {}


Source = Annotated[LocalSource | PackagedSource | HubSource, Field(discriminator="kind")]


class SpanSettings(_Strict):
    """How span extraction (extractive QA) cuts long contexts into windows and decodes answers."""

    # Questions are cut to this many tokens (and to half the input at most).
    max_query_length: PositiveInt = 64
    # Tokens between the starts of consecutive windows of a long context (BERT's and XTREME's
    # meaning); at most half a window, so windows overlap even with a small max_length.
    doc_stride: PositiveInt = 128
    max_answer_length: PositiveInt = 30  # tokens
    n_best: PositiveInt = 20  # start and end candidates per window
    # SQuAD 2.0: predict no answer ("") when the null score beats the best span's.
    allow_no_answer: bool = False


class TaskSpec(_Strict):
    name: str
    version: int
    description: str
    format: TaskFormat
    labels: list[str] = []
    # The labels as XTREME's label files write them, when they differ from `labels` (PAWS-X's
    # 0/1): what a run's `xtreme/` submission files contain.
    submission_labels: list[str] | None = None
    # How XTREME's label files of a labelled task are laid out: `tsv`, one label per line, or
    # `jsonl`, one JSON object per line whose `label` is the answer's index (XTREME-R's XCOPA).
    submission_file: Literal["tsv", "jsonl"] = "tsv"
    inputs: Inputs
    languages: list[str] = Field(min_length=1)
    train_language: str = "en"
    # The task whose English training data trains this one (xnli -> mnli), as in XTREME.
    train_task: str | None = None
    # Tasks with the same head key share one head; the registry checks their labels agree.
    head: str
    metrics: list[MetricSpec] = Field(min_length=1)
    sources: list[Source] = Field(min_length=1)
    spans: SpanSettings = SpanSettings()  # span_extraction tasks only
    # Labels too many to list (CCG's 1,363 supertags) are the ids 0..label_count-1; the data
    # names them (jiant's tags_to_id.json).
    label_count: PositiveInt | None = None
    # Shown by `xstilts tasks`: what a user must know to get the data (e.g. "no Hub copy").
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _numbered_labels(cls, data):
        if isinstance(data, dict) and isinstance(data.get("label_count"), int):  # else the field check says why
            numbered = [str(i) for i in range(data["label_count"])]
            if data.get("labels") not in (None, [], numbered):
                raise ValueError("give labels or label_count, not both")
            data = {**data, "labels": numbered}
        return data

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        unknown = [lang for lang in self.languages if lang not in LANGUAGE_INFO]
        if unknown:
            raise ValueError(f"unknown language code(s) {unknown}; use ISO 639-1 codes")
        if repeated(self.languages):
            raise ValueError(f"languages are listed more than once: {', '.join(repeated(self.languages))}")
        if self.submission_labels is not None and len(self.submission_labels) != len(self.labels):
            raise ValueError(f"submission_labels needs one entry per label ({len(self.labels)})")
        kinds = [s.kind for s in self.sources]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"more than one source of the same kind: {kinds}")
        return self

    def source(self, kind: str) -> LocalSource | PackagedSource | HubSource | None:
        return next((s for s in self.sources if s.kind == kind), None)
