"""Extractive QA scores: exact match and token F1 of each predicted answer against its gold
answers (the best-matching gold counts), averaged over questions as fractions (0..1, like
accuracy; the official scripts print percentages).

Two normalisations, chosen by metric name:

- `exact_match` / `f1`: the official SQuAD scripts' (lowercase; drop ASCII punctuation and the
  English articles a/an/the; split on whitespace), whatever the language. XTREME scores SQuAD,
  XQuAD and TyDiQA-GoldP this way.
- `mlqa_exact_match` / `mlqa_f1`: the official MLQA script's, which depends on the answer's
  language: Unicode punctuation, each language's articles, and Chinese split into characters.

No answer (SQuAD 2.0): as in the official SQuAD 2.0 script, golds that normalise to nothing are
dropped; a question left without golds is answered correctly only by a prediction that normalises
to nothing (the decoder predicts "" for "no answer").
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


def _f1(predicted: Tokens, gold: Tokens) -> float:
    if not predicted or not gold:
        return float(predicted == gold)
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _best_per_question(score: Callable[[Tokens, Tokens], float], normalise: Callable[[str, str], Tokens],
                       golds: Sequence[Sequence[Any]], predictions: Sequence[str], lang: str) -> list[float]:
    if len(golds) != len(predictions) or not golds:
        raise ValueError("QA metrics need equally long, non-empty gold and prediction lists")
    out = []
    for gold, prediction in zip(golds, predictions):
        gold_tokens = [tokens for tokens in (normalise(t, lang) for t in _answer_texts(gold)) if tokens] or [[]]
        predicted = normalise(prediction, lang)
        out.append(max(score(predicted, tokens) for tokens in gold_tokens))
    return out


def _mean_best(score: Callable[[Tokens, Tokens], float], normalise: Callable[[str, str], Tokens],
               golds: Sequence[Sequence[Any]], predictions: Sequence[str], lang: str) -> float:
    return sum(_best_per_question(score, normalise, golds, predictions, lang)) / len(golds)


def _exact(predicted: Tokens, gold: Tokens) -> float:
    return float(predicted == gold)


def exact_match(golds: Sequence[Sequence[Any]], predictions: Sequence[str], lang: str | None = None) -> float:
    return _mean_best(_exact, squad_tokens, golds, predictions, lang)


def f1(golds: Sequence[Sequence[Any]], predictions: Sequence[str], lang: str | None = None) -> float:
    return _mean_best(_f1, squad_tokens, golds, predictions, lang)


def mlqa_exact_match(golds: Sequence[Sequence[Any]], predictions: Sequence[str], lang: str) -> float:
    return _mean_best(_exact, mlqa_tokens, golds, predictions, lang)


def mlqa_f1(golds: Sequence[Sequence[Any]], predictions: Sequence[str], lang: str) -> float:
    return _mean_best(_f1, mlqa_tokens, golds, predictions, lang)


# metric name -> (score, normalisation): what each QA metric averages over questions.
_PER_QUESTION = {"exact_match": (_exact, squad_tokens), "f1": (_f1, squad_tokens),
                 "mlqa_exact_match": (_exact, mlqa_tokens), "mlqa_f1": (_f1, mlqa_tokens)}


def question_scores(metric: str, golds: Sequence[Sequence[Any]], predictions: Sequence[str], lang: str) -> list[float]:
    """Each question's score under a QA metric (its mean over questions is the metric)."""
    score, normalise = _PER_QUESTION[metric]
    return _best_per_question(score, normalise, golds, predictions, lang)


QA_METRICS: dict[str, Callable[..., float]] = {
    "exact_match": exact_match, "f1": f1, "mlqa_exact_match": mlqa_exact_match, "mlqa_f1": mlqa_f1,
}
