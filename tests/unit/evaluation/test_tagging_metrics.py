"""Tagging metrics against hand-computed values: XTREME's seqeval chunk F1 on NER boundary cases
and on POS tags (where it is not accuracy), and token accuracy."""

from __future__ import annotations

import pytest

from xstilts.metrics import METRICS
from xstilts.metrics.tagging import span_f1, token_accuracy


def test_registered_under_the_names_specs_use():
    assert METRICS["span_f1"] is span_f1 and METRICS["token_accuracy"] is token_accuracy


@pytest.mark.parametrize("gold,predicted,expected", [
    # An I- after O opens a chunk (conlleval-style, as XTREME scores): PER over words 1-2 both sides.
    ([["O", "B-PER", "I-PER"]], [["O", "I-PER", "I-PER"]], 1.0),
    # B-PER I-ORG is two one-word chunks, neither the gold two-word PER.
    ([["B-PER", "I-PER"]], [["B-PER", "I-ORG"]], 0.0),
    # Adjacent entities: B-PER B-PER is two chunks; B-PER I-PER one.
    ([["B-PER", "B-PER"]], [["B-PER", "I-PER"]], 0.0),
    ([["B-PER", "B-PER", "O"]], [["B-PER", "B-PER", "O"]], 1.0),
    # A chunk ending the sentence counts; the next sentence's I-LOC is its own chunk, not a
    # continuation: gold LOC(1) and LOC(2); predicted LOC(1) only -> P 1, R 1/2, F1 2/3.
    ([["O", "B-LOC"], ["I-LOC", "O"]], [["O", "B-LOC"], ["O", "O"]], 2 / 3),
    # A chunk's span must match exactly: gold ORG(0-1), predicted ORG(0) -> 0.
    ([["B-ORG", "I-ORG"]], [["B-ORG", "O"]], 0.0),
    # Gold PER(0-1), LOC(3), ORG(5); predicted PER(0-1), LOC(3), PER(5), LOC(6):
    # 2 right of 4 predicted and 3 gold -> P 1/2, R 2/3, F1 4/7.
    ([["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O"]],
     [["B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "B-LOC"]], 4 / 7),
    # No chunk on either side scores 0, as seqeval (and so XTREME) gives.
    ([["O", "O"]], [["O", "O"]], 0.0),
])
def test_span_f1_by_hand(gold, predicted, expected):
    assert span_f1(gold, predicted, "en") == pytest.approx(expected)


@pytest.mark.parametrize("gold,predicted,f1,accuracy", [
    # Runs of one POS tag are one chunk: NOUN NOUN is a two-word chunk, so predicting
    # NOUN VERB VERB gets no chunk right though 2 of 3 tags are.
    ([["NOUN", "NOUN", "VERB"]], [["NOUN", "VERB", "VERB"]], 0.0, 2 / 3),
    # Distinct neighbours are one-word chunks: 2 of 3 right -> F1 2/3, like accuracy.
    ([["DET", "NOUN", "VERB"]], [["DET", "NOUN", "ADJ"]], 2 / 3, 2 / 3),
    # CCONJ and SCONJ share seqeval's chunk type "CONJ": confusing them is not penalised.
    ([["CCONJ"]], [["SCONJ"]], 1.0, 0.0),
    # SCONJ reads as a single-word chunk tag, so two of them are two chunks and match; X has
    # O's (empty) type, so after O it opens no chunk: gold 3 chunks, predicted 2, both right
    # -> P 1, R 2/3, F1 4/5.
    ([["SCONJ", "SCONJ"], ["PUNCT"]], [["SCONJ", "SCONJ"], ["X"]], 4 / 5, 2 / 3),
])
def test_pos_is_scored_as_xtreme_scores_udpos(gold, predicted, f1, accuracy):
    assert span_f1(gold, predicted, "de") == pytest.approx(f1)
    assert token_accuracy(gold, predicted, "de") == pytest.approx(accuracy)


def test_token_accuracy_counts_words_over_all_sentences():
    assert token_accuracy([["a", "b", "c"], ["d"]], [["a", "x", "c"], ["y"]]) == pytest.approx(2 / 4)


@pytest.mark.parametrize("metric", [span_f1, token_accuracy])
def test_misaligned_predictions_are_refused(metric):
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        metric([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError):
        metric([], [])
