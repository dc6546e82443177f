"""What a spec must hold for its format to work with it: which inputs, how many labels, which
metrics. Part of the spec contract, checked by the registry for every spec (built-in or a
user's), without loading the formats' model code."""

from __future__ import annotations

from collections.abc import Callable

from xstilts.tasks.spec import TaskFormat, TaskSpec

NEAREST, MINING, RANKING = "nearest neighbour", "bitext mining", "ranking"
# The search each retrieval metric scores.
PROCEDURES = {"accuracy": NEAREST, "bucc_f1": MINING, "map_at_20": RANKING}


def _classification(n_texts: int, name: str) -> Callable[[TaskSpec], None]:
    def check(spec: TaskSpec) -> None:
        if len(spec.inputs.texts) != n_texts:
            raise ValueError(f"{name} needs exactly {n_texts} inputs.texts field(s)")
        if len(spec.labels) < 2:
            raise ValueError(f"{name} needs at least two labels")
    return check


def _multiple_choice(spec: TaskSpec) -> None:
    inputs = spec.inputs
    if not inputs.context or len(spec.labels) < 2:
        raise ValueError("multiple_choice needs inputs.context and one label per choice (at least two)")
    if bool(inputs.choices) == bool(inputs.choices_field):
        raise ValueError("multiple_choice needs either inputs.choices (one field per choice) "
                         "or inputs.choices_field (one field holding the list), not both")
    if inputs.choices and len(inputs.choices) != len(spec.labels):
        raise ValueError("multiple_choice needs one inputs.choices field per label")


def _span_extraction(spec: TaskSpec) -> None:
    if not (spec.inputs.question and spec.inputs.context):
        raise ValueError("span_extraction needs inputs.question and inputs.context (and inputs.label: the answers)")
    if spec.labels:
        raise ValueError("span_extraction predicts answer spans; leave labels out")


def _token_tagging(spec: TaskSpec) -> None:
    if len(spec.inputs.texts) != 1:
        raise ValueError("token_tagging needs exactly one inputs.texts field: the list of words")
    if len(spec.labels) < 2:
        raise ValueError("token_tagging needs at least two labels (the tag set)")


def _retrieval(spec: TaskSpec) -> None:
    names = [m.name for m in spec.metrics]
    if not set(names) <= set(PROCEDURES) or len({PROCEDURES[n] for n in names}) != 1:
        raise ValueError(f"retrieval scores one kind of search; metrics: accuracy (nearest neighbour), "
                         f"bucc_f1 (bitext mining) or map_at_20 (ranking), got {names}")
    if len(spec.inputs.texts) != 2:
        raise ValueError("retrieval needs two inputs.texts fields: the source and English sentence "
                         "(bitext), or the query and candidate text (ranking)")


FORMAT_RULES: dict[TaskFormat, Callable[[TaskSpec], None]] = {
    "single_classification": _classification(1, "single_classification"),
    "pair_classification": _classification(2, "pair_classification"),
    "multiple_choice": _multiple_choice,
    "span_extraction": _span_extraction,
    "token_tagging": _token_tagging,
    "retrieval": _retrieval,
}


def check_format_fit(spec: TaskSpec) -> None:
    """Raise ValueError when a spec's inputs, labels or metrics cannot work with its format."""
    FORMAT_RULES[spec.format](spec)
