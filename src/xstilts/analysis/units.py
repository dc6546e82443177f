"""Per-example units of every metric, for bootstraps that resample the right thing.

A metric of a test set is a function of column sums over its examples' rows of statistics:

    accuracy (classification, multiple choice, Tatoeba)   [hit]                          mean
    exact_match, f1 and their MLQA variants (QA)         [the question's score]          mean
    map_at_20 (LAReQA, Mewsli-X)                          [the query's average precision] mean
    token_accuracy (tagging)                              [words right, words]             ratio
    span_f1 (PAN-X, UD-POS)                               [chunks right, predicted, gold] 2 right / (predicted + gold)

so a bootstrap resamples questions, sentences or queries and recomputes the metric from the
resampled sums (`stats.bootstrap_sums`); span F1 is never averaged over sentences. The rows
are the evaluation's prediction rows (`predictions/<task>/<split>-<lang>.jsonl`). BUCC's
bitext F1 scores a set of mined pairs, not examples: it has no unit and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xstilts.errors import XstiltsError
from xstilts.metrics.qa import QA_METRICS, question_scores
from xstilts.metrics.retrieval import average_precision_at_k
from xstilts.metrics.tagging import chunk_counts

UNIT_NAMES = {"accuracy": "examples", "exact_match": "questions", "f1": "questions", "mlqa_exact_match": "questions",
              "mlqa_f1": "questions", "map_at_20": "queries", "token_accuracy": "sentences", "span_f1": "sentences"}


@dataclass(frozen=True)
class Units:
    """One test set's per-example statistics under one metric."""

    metric: str
    values: np.ndarray  # (examples, statistics)
    keys: tuple[str, ...]  # seeds the resampling: equal keys, equal resamples (paired)

    @property
    def unit(self) -> str:
        return UNIT_NAMES[self.metric]

    def __len__(self) -> int:
        return len(self.values)

    def score(self) -> float:
        """The metric (0..1) of the whole set."""
        return float(score_from_sums(self.metric, self.values.sum(axis=0)[None, :], len(self))[0])


def score_from_sums(metric: str, sums: np.ndarray, n: int) -> np.ndarray:
    """The metric of each row of column sums (replicates x statistics) of n examples."""
    if metric == "span_f1":
        denominator = sums[:, 1] + sums[:, 2]
        return np.divide(2 * sums[:, 0], denominator, out=np.zeros(len(sums)), where=denominator > 0)
    if metric == "token_accuracy":
        return sums[:, 0] / sums[:, 1]
    return sums[:, 0] / n


def example_units(metric: str, rows: list[dict], lang: str, where: Path | str) -> Units:
    """The units of `metric` from one language's prediction rows (`where` names the file in errors)."""
    if metric not in UNIT_NAMES:
        raise XstiltsError(f"{where}: metric '{metric}' scores a whole set, not examples (e.g. BUCC's mined pairs), "
                           f"so it has no bootstrap unit; metrics with one: {', '.join(UNIT_NAMES)}")
    first = rows[0]

    def need(*fields: str) -> None:
        if not set(fields) <= first.keys():
            raise XstiltsError(f"{where}:1: rows have no {', '.join(fields)}; metric '{metric}' is computed from them "
                               f"(fields present: {', '.join(first)})")

    if metric == "accuracy":
        gold_field = "label" if "label" in first else "gold"  # Tatoeba's rows: the gold index
        need(gold_field, "prediction")
        values = [[float(r[gold_field] == r["prediction"])] for r in rows]
        # Parallel classification sets (XNLI's languages) share their label sequence: pairing
        # across languages and runs, as `bootstrap_scores` pairs them.
        keys = tuple(str(r[gold_field]) for r in rows) if "probabilities" in first else _ids(rows)
    elif metric in QA_METRICS:
        need("answers", "prediction")
        scores = question_scores(metric, [r["answers"] for r in rows], [r["prediction"] for r in rows], lang)
        values, keys = [[s] for s in scores], _ids(rows)
    elif metric == "map_at_20":
        need("relevant", "ranking")
        values, keys = [[average_precision_at_k(r["relevant"], r["ranking"], 20)] for r in rows], _ids(rows)
    elif metric == "span_f1":
        need("label", "prediction")
        values, keys = [list(chunk_counts(r["label"], r["prediction"])) for r in rows], _ids(rows)
    else:  # token_accuracy
        need("label", "prediction")
        values = [[sum(g == p for g, p in zip(r["label"], r["prediction"])), len(r["label"])] for r in rows]
        keys = _ids(rows)
    return Units(metric, np.asarray(values, dtype=float), keys)


def _ids(rows: list[dict]) -> tuple[str, ...]:
    return tuple(str(r.get("id", i)) for i, r in enumerate(rows))
