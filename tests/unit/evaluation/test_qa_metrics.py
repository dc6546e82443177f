"""Extractive QA metrics against hand-computed values: SQuAD normalisation, token F1, the best
of several golds, no-answer questions, and MLQA's language-specific rules."""

from __future__ import annotations

import pytest

from xstilts.errors import XstiltsError
from xstilts.metrics import METRICS
from xstilts.metrics.qa import (
    exact_match,
    f1,
    mlqa_exact_match,
    mlqa_f1,
    mlqa_tokens,
    squad_v2_exact_match,
    squad_v2_f1,
)


def test_registered_under_the_names_specs_use():
    assert METRICS["exact_match"] is exact_match and METRICS["f1"] is f1
    assert METRICS["mlqa_exact_match"] is mlqa_exact_match and METRICS["mlqa_f1"] is mlqa_f1
    assert METRICS["squad_v2_exact_match"] is squad_v2_exact_match and METRICS["squad_v2_f1"] is squad_v2_f1


def test_case_punctuation_and_articles_do_not_count():
    golds = [(("eiffel tower", 4),)]
    assert exact_match(golds, ["The Eiffel Tower!"], "en") == 1.0
    assert f1(golds, ["The Eiffel Tower!"], "en") == 1.0


@pytest.mark.parametrize("prediction,gold,expected", [
    # [big, red, barn, door] vs [red, barn]: P 2/4, R 2/2 -> 2/3
    ("the big red barn door", "red barn", 2 / 3),
    # counts clip: {b: 2, c: 1} & {b: 1, c: 2} = 2 shared; P 2/3, R 2/3 -> 2/3
    ("b b c", "b c c", 2 / 3),
    ("Denver", "Broncos", 0.0),
])
def test_partial_overlap_f1(prediction, gold, expected):
    assert f1([(gold,)], [prediction]) == pytest.approx(expected)
    assert exact_match([(gold,)], [prediction]) == 0.0


def test_best_gold_counts_and_questions_average():
    golds = [(("Denver Broncos", 10), ("Broncos", 17)), (("Denver Broncos", 10), ("Broncos", 17))]
    # First: exact on "Broncos". Second: [denver, team] vs [denver, broncos] -> 0.5, vs [broncos] -> 0.
    predictions = ["broncos", "the Denver team"]
    assert exact_match(golds, predictions) == pytest.approx(0.5)
    assert f1(golds, predictions) == pytest.approx((1.0 + 0.5) / 2)


def test_no_answer_questions():
    golds = [(), (), (("Denver", 0),)]
    # Only "" answers an unanswerable question; "" for an answerable one scores nothing.
    assert squad_v2_exact_match(golds, ["", "Denver", ""]) == pytest.approx(1 / 3)
    assert squad_v2_f1(golds, ["", "Denver", ""]) == pytest.approx(1 / 3)
    # A gold that normalises to nothing is dropped, as the SQuAD 2.0 script does.
    assert squad_v2_exact_match([(("The", 0),)], [""]) == 1.0
    assert squad_v2_f1([(("The", 0),), (("the", 0), ("cat", 4))], ["", ""]) == pytest.approx(1 / 2)


def test_v1_and_mlqa_keep_golds_that_normalise_to_nothing():
    # evaluate-v1.1.py and mlqa_evaluation_v1.py: "" equals the normalised "the" (EM 1), but F1
    # shares no token with it (0).
    assert exact_match([(("the", 0), ("cat", 4))], [""]) == 1.0
    assert f1([(("the", 0), ("cat", 4))], [""]) == 0.0
    assert mlqa_exact_match([(("。", 0), ("北京", 1))], [""], "zh") == 1.0
    assert mlqa_f1([(("。", 0), ("北京", 1))], [""], "zh") == 0.0
    with pytest.raises(ValueError, match="without gold answers"):
        exact_match([()], ["x"])


def test_a_missing_prediction_scores_0_in_v1_and_mlqa_and_is_left_out_in_v2():
    golds = [(("Denver", 0),), (("Paris", 0),)]
    assert exact_match(golds, ["Denver", None]) == 0.5
    assert mlqa_f1(golds, ["Denver", None], "en") == 0.5
    assert squad_v2_exact_match(golds, ["Denver", None]) == 1.0
    with pytest.raises(ValueError, match="no question has a prediction"):
        squad_v2_f1(golds, [None, None])


def test_squad_rules_ignore_the_language():
    assert exact_match([(("casa blanca", 0),)], ["la casa blanca"], "es") == 0.0
    assert f1([(("北京",),)], ["北京大学"], "zh") == 0.0  # one whitespace token each


def test_mlqa_chinese_is_scored_by_character():
    # [北, 京, 大, 学] vs [北, 京]: P 2/4, R 1 -> 2/3
    assert mlqa_f1([(("北京", 0),)], ["北京大学"], "zh") == pytest.approx(2 / 3)
    # Mixed script: [苹, 果, iphone, 手, 机] vs [iphone, 手, 机]: P 3/5, R 1 -> 0.75
    assert mlqa_tokens("苹果 iPhone手机", "zh") == ["苹", "果", "iphone", "手", "机"]
    assert mlqa_f1([(("iPhone手机", 0),)], ["苹果 iPhone 手机"], "zh") == pytest.approx(0.75)
    # Unicode punctuation (full-width comma and stop) goes.
    assert mlqa_exact_match([(("北京",),)], ["北京，。"], "zh") == 1.0


@pytest.mark.parametrize("lang,prediction,gold", [
    ("es", "la casa blanca", "casa blanca"),
    ("es", "«Unos perros»", "perros"),  # « » are Unicode punctuation, not ASCII
    ("de", "der Hund von einem Mann", "Hund von Mann"),
    ("vi", "những con mèo", "con mèo"),
    ("ar", "الكتاب", "كتاب"),
    ("en", "“The” answer", "answer"),
])
def test_mlqa_removes_each_languages_articles(lang, prediction, gold):
    assert mlqa_exact_match([((gold, 0),)], [prediction], lang) == 1.0
    assert exact_match([((gold, 0),)], [prediction], lang) == 0.0  # SQuAD rules keep them


def test_mlqa_arabic_drops_al_anywhere_like_the_official_script():
    assert mlqa_tokens("مال", "ar") == ["م"]  # "ال" inside a word goes too


def test_mlqa_hindi_has_no_articles():
    # [एक, किताब] vs [किताब]: P 1/2, R 1 -> 2/3
    assert mlqa_f1([(("किताब", 0),)], ["एक किताब"], "hi") == pytest.approx(2 / 3)


def test_mlqa_refuses_a_language_it_has_no_rules_for():
    with pytest.raises(XstiltsError, match="no rules for language 'fi'"):
        mlqa_f1([(("a", 0),)], ["a"], "fi")


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        f1([(("a", 0),)], ["a", "b"])
