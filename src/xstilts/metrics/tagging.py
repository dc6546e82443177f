"""Scores of token tagging, each `(golds, predictions, lang) -> fraction`, where golds and
predictions are lists of tag-name sequences (one tag per word).

`span_f1` is the number XTREME reports for both tagging tasks: google-research/xtreme's
evaluate.py scores PAN-X *and* UD-POS with seqeval's `f1_score` in its default mode. That mode
is conlleval-style, not strict IOB2:
- a chunk starts at B-X, and also at an I-X after O or after another type, so a stray I-PER
  still counts as a PER entity; B-PER I-ORG is two one-word chunks, B-LOC B-LOC two chunks;
- a tag without a B-/I- prefix (a UPOS tag) is cut into its first letter, read as the chunk
  tag, and the rest, read as the type. So on UD-POS a run of one tag is one chunk (NOUN NOUN is
  a single two-word chunk), SCONJ ("S" = single) always closes its chunk, CCONJ and SCONJ
  share the type "CONJ", and X has O's empty type (after O it opens no chunk): XTREME's UD-POS
  "F1" is not token accuracy, and `token_accuracy` is reported beside it.
Sentences are scored together (chunks never cross a sentence end); with no gold and no
predicted chunk at all the score is 0, as seqeval (and so XTREME) gives.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

TagSequences = Sequence[Sequence[str]]


def _check(golds: TagSequences, predictions: TagSequences) -> None:
    if len(golds) != len(predictions) or not golds:
        raise ValueError("tagging metrics need equally long, non-empty lists of tag sequences")
    for i, (gold, predicted) in enumerate(zip(golds, predictions)):
        if len(gold) != len(predicted):
            raise ValueError(f"sentence {i}: {len(gold)} gold tags but {len(predicted)} predicted")


def span_f1(golds: TagSequences, predictions: TagSequences, lang: str | None = None) -> float:
    """Micro-averaged chunk F1, computed as XTREME's evaluate.py computes it (see the module)."""
    _check(golds, predictions)
    from seqeval.metrics import f1_score  # imported here: it loads scikit-learn

    with warnings.catch_warnings():
        # seqeval warns once per tag without a B-/I- prefix (every UPOS tag) and when there is
        # no chunk to score; neither changes the number.
        warnings.simplefilter("ignore")
        # Lists, not tuples: seqeval only treats a list of lists as several sentences.
        return float(f1_score([list(g) for g in golds], [list(p) for p in predictions], zero_division=0))


def chunk_counts(gold: Sequence[str], predicted: Sequence[str]) -> tuple[int, int, int]:
    """One sentence's (correct, predicted, gold) chunk counts, as `span_f1` counts chunks: summed
    over sentences they give its F1, 2 * correct / (predicted + gold), so a bootstrap can
    resample sentences and recompute the F1 from the sums."""
    _check([gold], [predicted])
    from seqeval.metrics.sequence_labeling import get_entities  # imported here: it loads scikit-learn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in span_f1: tags without a B-/I- prefix
        gold_chunks, predicted_chunks = set(get_entities(list(gold))), set(get_entities(list(predicted)))
    return len(gold_chunks & predicted_chunks), len(predicted_chunks), len(gold_chunks)


def token_accuracy(golds: TagSequences, predictions: TagSequences, lang: str | None = None) -> float:
    """The fraction of words, over all sentences, whose predicted tag is the gold one."""
    _check(golds, predictions)
    pairs = [(g, p) for gold, predicted in zip(golds, predictions) for g, p in zip(gold, predicted)]
    return sum(g == p for g, p in pairs) / len(pairs)


TAGGING_METRICS = {"span_f1": span_f1, "token_accuracy": token_accuracy}
