"""Metric functions, looked up by the names task specs declare."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xstilts.metrics.qa import QA_METRICS
from xstilts.metrics.retrieval import RETRIEVAL_METRICS
from xstilts.metrics.tagging import TAGGING_METRICS


def accuracy(labels: Sequence[int], predictions: Sequence[int], lang: str | None = None) -> float:
    if len(labels) != len(predictions) or not labels:
        raise ValueError("accuracy needs equally long, non-empty label and prediction lists")
    return sum(int(a == b) for a, b in zip(labels, predictions)) / len(labels)


# name -> metric(golds, predictions, language): a spec's `metrics` names keys of this table.
# The language matters to metrics whose normalisation depends on it (MLQA's answer matching).
METRICS: dict[str, Callable[..., float]] = {"accuracy": accuracy}
METRICS.update(QA_METRICS)  # exact_match, f1 (SQuAD v1.1) and their MLQA and SQuAD v2.0 variants
METRICS.update(TAGGING_METRICS)  # span_f1 (XTREME's PAN-X and UD-POS score), token_accuracy
METRICS.update(RETRIEVAL_METRICS)  # bucc_f1 (BUCC), map_at_20 (LAReQA, Mewsli-X); Tatoeba: accuracy


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)
