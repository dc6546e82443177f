"""Per-example units of every metric: the metric recomputed from them equals the task's own
metric, and the bootstrap resamples the right unit (span F1: sentences, F1 from summed counts)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from xstilts.analysis.stats import bootstrap_sums
from xstilts.analysis.units import example_units, score_from_sums
from xstilts.errors import XstiltsError
from xstilts.metrics import METRICS

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"]


def _tagging_rows(seed: int, n: int = 40) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        gold = [rng.choice(TAGS) for _ in range(rng.randint(1, 9))]
        rows.append({"id": f"s{i}", "label": gold, "prediction": [t if rng.random() < 0.6 else rng.choice(TAGS) for t in gold]})
    return rows


@pytest.mark.parametrize("metric", ["span_f1", "token_accuracy"])
def test_tagging_units_give_the_metric(metric):
    for seed in range(5):
        rows = _tagging_rows(seed)
        expected = METRICS[metric]([r["label"] for r in rows], [r["prediction"] for r in rows])
        assert example_units(metric, rows, "de", "x.jsonl").score() == pytest.approx(expected)


def test_span_f1_bootstrap_resamples_sentences_and_recomputes_f1():
    # Sentence a: 10 gold chunks, all found; sentence b: 10 gold chunks, none predicted.
    a = {"id": "a", "label": ["B-PER", "O"] * 10, "prediction": ["B-PER", "O"] * 10}
    b = {"id": "b", "label": ["B-LOC", "O"] * 10, "prediction": ["O", "O"] * 10}
    units = example_units("span_f1", [a, b], "en", "x.jsonl")
    assert units.unit == "sentences" and units.score() == pytest.approx(2 * 10 / (10 + 20))
    replicates = score_from_sums("span_f1", bootstrap_sums(units.values, units.keys, 400, 0), len(units))
    # Resamples are {a, a}, {a, b} or {b, b}: F1 1, 2/3 (from summed counts) or 0; never 0.5, the
    # mean of the two sentences' own F1s.
    assert set(np.round(replicates, 6)) == {1.0, round(2 / 3, 6), 0.0}


def test_qa_units_are_questions():
    rows = [{"id": "q1", "answers": ["the Eiffel Tower"], "prediction": "Eiffel Tower"},
            {"id": "q2", "answers": ["1889", "in 1889"], "prediction": "1887"},
            {"id": "q3", "answers": ["Gustave Eiffel"], "prediction": "Eiffel"}]
    for metric in ("f1", "exact_match", "mlqa_f1", "mlqa_exact_match"):
        units = example_units(metric, rows, "en", "x.jsonl")
        expected = METRICS[metric]([r["answers"] for r in rows], [r["prediction"] for r in rows], "en")
        assert units.unit == "questions" and units.score() == pytest.approx(expected)
    assert example_units("f1", rows, "en", "x.jsonl").values[:, 0].tolist() == pytest.approx([1.0, 0.0, 2 / 3])


def test_retrieval_units_are_queries():
    tatoeba = [{"id": str(i), "gold": i, "prediction": p} for i, p in enumerate([0, 1, 5, 3])]
    assert example_units("accuracy", tatoeba, "de", "x.jsonl").score() == pytest.approx(0.75)
    ranking = [{"id": "q1", "relevant": ["c1"], "ranking": ["c2", "c1"]}, {"id": "q2", "relevant": ["c3"], "ranking": ["c3"]}]
    units = example_units("map_at_20", ranking, "de", "x.jsonl")
    assert units.unit == "queries" and units.score() == pytest.approx((0.5 + 1.0) / 2)


def test_a_metric_without_units_is_refused():
    with pytest.raises(XstiltsError, match="metric 'bucc_f1' scores a whole set"):
        example_units("bucc_f1", [{"source_id": "a"}], "de", "bucc.jsonl")
    with pytest.raises(XstiltsError, match=r"x\.jsonl:1: rows have no answers, prediction"):
        example_units("f1", [{"id": "q", "label": 1}], "de", "x.jsonl")
