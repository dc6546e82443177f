"""Extractive QA scores: exact match and token F1 of each predicted answer against its gold
answers (the best-matching gold counts), averaged over questions as fractions (0..1, like
accuracy; the official scripts print percentages).

Each benchmark's own official rules, chosen by metric name:

- `exact_match` / `f1`: SQuAD v1.1's `evaluate-v1.1.py` (XTREME's `third_party/evaluate_squad.py`),
  which XTREME uses for SQuAD, XQuAD and TyDiQA-GoldP: lowercase; drop ASCII punctuation and the
  English articles a/an/the; split on whitespace, whatever the language. Every gold answer
  counts, also one that normalises to nothing (it matches an empty prediction exactly, with F1
  0: F1 is 0 whenever no token is shared).
- `mlqa_exact_match` / `mlqa_f1`: MLQA's `mlqa_evaluation_v1.py` (XTREME's
  `third_party/evaluate_mlqa.py`): the same as v1.1 but normalised by the answer's language
  (Unicode punctuation, each language's articles, Chinese split into characters).
- `squad_v2_exact_match` / `squad_v2_f1`: the official SQuAD 2.0 script: golds that normalise to
  nothing are dropped; a question left without golds is answered correctly (EM and F1 1) only by
  a prediction that normalises to nothing (the decoder predicts "" for "no answer").

A prediction of None is a question without one (`xstilts score` on a submission that leaves a
question out): v1.1 and MLQA score it 0 and count it; the SQuAD 2.0 script leaves it out of the
mean.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from xstilts.errors import XstiltsError

Tokens = list[str]

_ASCII_PUNCTUATION = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_tokens(text: str, lang: str | None = None) -> Tokens:
    """The SQuAD normalisation (the same for every language)."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCTUATION)
    return _SQUAD_ARTICLES.sub(" ", text).split()


def _words(pattern: str) -> Callable[[str], str]:
    articles = re.compile(rf"\b({pattern})\b")
    return lambda text: articles.sub(" ", text)


# MLQA's article removal per answer language.
_MLQA_ARTICLES: dict[str, Callable[[str], str]] = {
    "en": _words("a|an|the"),
    "es": _words("un|una|unos|unas|el|la|los|las"),
    "de": _words("ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des"),
    "vi": _words("của|là|cái|chiếc|những"),
    # The official script's pattern removes the article "ال" wherever it occurs, also inside a
    # word; kept as is so that scores match published ones.
    "ar": lambda text: text.replace("ال", " "),
    "hi": lambda text: text,  # no articles
    "zh": lambda text: text,
}
_CJK = re.compile(r"([\u4e00-\u9fa5])")  # the official script's range


def _is_punctuation(ch: str) -> bool:
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def mlqa_tokens(text: str, lang: str) -> Tokens:
    """The MLQA normalisation of an answer in language `lang`; Chinese is split into characters
    (runs of other characters into whitespace-separated words)."""
    if lang not in _MLQA_ARTICLES:
        raise XstiltsError(f"MLQA answer normalisation has no rules for language '{lang}'; "
                           f"allowed: {', '.join(_MLQA_ARTICLES)} (use exact_match/f1 for other tasks)")
    text = "".join(ch for ch in text.lower() if not _is_punctuation(ch))
    text = _MLQA_ARTICLES[lang](text)
    if lang == "zh":
        text = _CJK.sub(r" \1 ", text)
    return text.split()


def _answer_texts(gold: Sequence[Any]) -> list[str]:
    """Gold answers as texts; a gold answer is its text or a (text, character start) pair."""
    return [answer if isinstance(answer, str) else answer[0] for answer in gold]


def _shared_token_f1(predicted: Tokens, gold: Tokens) -> float:
    """v1.1's and MLQA's F1: 0 without a shared token, even when both are empty."""
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _squad_v2_f1(predicted: Tokens, gold: Tokens) -> float:
    """SQuAD 2.0's F1: an empty side scores 1 only against another empty side."""
    if not predicted or not gold:
        return float(predicted == gold)
    return _shared_token_f1(predicted, gold)


def _exact(predicted: Tokens, gold: Tokens) -> float:
    return float(predicted == gold)


def _best_per_question(score: Callable[[Tokens, Tokens], float], normalise: Callable[[str, str], Tokens],
                       golds: Sequence[Sequence[Any]], predictions: Sequence[str | None], lang: str,
                       squad_v2: bool = False) -> list[float | None]:
    """Each question's best score over its gold answers; a question with no prediction scores 0
    (v1.1, MLQA) or None, left out of the mean (SQuAD 2.0), as the official scripts do."""
    if len(golds) != len(predictions) or not golds:
        raise ValueError("QA metrics need equally long, non-empty gold and prediction lists")
    out: list[float | None] = []
    for gold, prediction in zip(golds, predictions):
        if prediction is None:
            out.append(None if squad_v2 else 0.0)
            continue
        texts = _answer_texts(gold)
        if squad_v2:
            gold_tokens = [tokens for tokens in (normalise(t, lang) for t in texts) if tokens] or [[]]
        elif texts:
            gold_tokens = [normalise(t, lang) for t in texts]
        else:
            raise ValueError("a question without gold answers: SQuAD v1.1 and MLQA rules need at least one "
                             "(no-answer questions are scored with squad_v2_exact_match / squad_v2_f1)")
        predicted = normalise(prediction, lang)
        out.append(max(score(predicted, tokens) for tokens in gold_tokens))
    return out


def _mean_best(score: Callable[[Tokens, Tokens], float], normalise: Callable[[str, str], Tokens],
               golds: Sequence[Sequence[Any]], predictions: Sequence[str | None], lang: str,
               squad_v2: bool = False) -> float:
    scores = [x for x in _best_per_question(score, normalise, golds, predictions, lang, squad_v2) if x is not None]
    if not scores:
        raise ValueError("no question has a prediction")
    return sum(scores) / len(scores)


def exact_match(golds: Sequence[Sequence[Any]], predictions: Sequence[str | None], lang: str | None = None) -> float:
    return _mean_best(_exact, squad_tokens, golds, predictions, lang)


def f1(golds: Sequence[Sequence[Any]], predictions: Sequence[str | None], lang: str | None = None) -> float:
    return _mean_best(_shared_token_f1, squad_tokens, golds, predictions, lang)


def mlqa_exact_match(golds: Sequence[Sequence[Any]], predictions: Sequence[str | None], lang: str) -> float:
    return _mean_best(_exact, mlqa_tokens, golds, predictions, lang)


def mlqa_f1(golds: Sequence[Sequence[Any]], predictions: Sequence[str | None], lang: str) -> float:
    return _mean_best(_shared_token_f1, mlqa_tokens, golds, predictions, lang)


def squad_v2_exact_match(golds: Sequence[Sequence[Any]], predictions: Sequence[str | None],
                         lang: str | None = None) -> float:
    return _mean_best(_exact, squad_tokens, golds, predictions, lang, squad_v2=True)


def squad_v2_f1(golds: Sequence[Sequence[Any]], predictions: Sequence[str | None], lang: str | None = None) -> float:
    return _mean_best(_squad_v2_f1, squad_tokens, golds, predictions, lang, squad_v2=True)


# metric name -> (score, normalisation, SQuAD 2.0 rules): what each QA metric averages over questions.
_PER_QUESTION = {"exact_match": (_exact, squad_tokens, False), "f1": (_shared_token_f1, squad_tokens, False),
                 "mlqa_exact_match": (_exact, mlqa_tokens, False), "mlqa_f1": (_shared_token_f1, mlqa_tokens, False),
                 "squad_v2_exact_match": (_exact, squad_tokens, True), "squad_v2_f1": (_squad_v2_f1, squad_tokens, True)}


def question_scores(metric: str, golds: Sequence[Sequence[Any]], predictions: Sequence[str | None],
                    lang: str) -> list[float]:
    """Each scored question's score under a QA metric (their mean is the metric)."""
    score, normalise, squad_v2 = _PER_QUESTION[metric]
    return [x for x in _best_per_question(score, normalise, golds, predictions, lang, squad_v2) if x is not None]


QA_METRICS: dict[str, Callable[..., float]] = {
    "exact_match": exact_match, "f1": f1, "mlqa_exact_match": mlqa_exact_match, "mlqa_f1": mlqa_f1,
    "squad_v2_exact_match": squad_v2_exact_match, "squad_v2_f1": squad_v2_f1,
}
