"""Label-changing NLI tests (hypothesis negation) and the degradation metrics."""

from __future__ import annotations

import pytest

from xstilts.data.registry import get_task
from xstilts.robustness.checklist import NEGATION_RULES, negate
from xstilts.robustness.metrics import degradation_metrics
from xstilts.robustness.perturbations import PerturbContext
from xstilts.robustness.registry import build_perturbation
from xstilts.tasks.example import Example


@pytest.mark.parametrize("lang,hypothesis,negated", [
    ("en", "a cat is on the mat", "a cat is not on the mat"),
    ("en", "Dogs can swim", "Dogs cannot swim"),
    ("en", "The man is not happy", None),          # already negative
    ("en", "He isn't home and was tired", None),   # a contraction counts as negation
    ("en", "The dog runs", None),                  # no copula or modal
    ("de", "die katze ist auf der matte", "die katze ist nicht auf der matte"),
    ("de", "das ist ein Hund", None),              # would need "kein"
    ("fr", "Il est content", "Il n'est pas content"),
    ("fr", "Elles sont là", "Elles ne sont pas là"),
    ("fr", "c'est vrai", None),                    # elided clitic
    ("es", "El gato es negro", "El gato no es negro"),
    ("ru", "Он был дома", "Он не был дома"),
    ("el", "Είναι σπίτι", "Δεν είναι σπίτι"),     # capitalised like the verb it precedes
])
def test_negation_rules(lang, hypothesis, negated):
    assert negate(hypothesis, NEGATION_RULES[lang]) == negated


def test_negation_turns_entailment_into_contradiction_only():
    spec = get_task("xnli")
    test = build_perturbation("checklist-negation", {}, "test")
    assert not test.label_preserving
    examples = [Example("e", ("the cat sits on the mat", "a cat is on the mat"), spec.labels.index("entailment")),
                Example("n", ("the cat sits on the mat", "the cat is happy"), spec.labels.index("neutral"))]
    out = test.perturb_all(examples, PerturbContext(spec, "en"))
    assert [r.example.uid for r in out] == ["e"]
    assert out[0].example.texts == ("the cat sits on the mat", "a cat is not on the mat")
    assert out[0].example.label == spec.labels.index("contradiction")


def test_negation_is_skipped_with_a_reason_where_it_cannot_apply():
    test = build_perturbation("checklist-negation", {}, "test")
    assert "no negation rule for 'zh'" in test.skip_reason(PerturbContext(get_task("xnli"), "zh"))
    assert "not an NLI task" in test.skip_reason(PerturbContext(get_task("pawsx"), "de"))
    assert test.skip_reason(PerturbContext(get_task("xnli"), "de")) is None


def test_degradation_metrics_on_a_hand_computed_case():
    m = degradation_metrics([1, 1, 1, 0], [1, 0, 0, 0], [0.1, 0.2, 0.3, 0.0], [1, 5, 9, 1], seed=0)
    assert (m["n"], m["clean_accuracy"], m["perturbed_accuracy"], m["degradation"]) == (4, 0.75, 0.25, 0.5)
    assert m["relative_degradation"] == pytest.approx(0.6667, abs=1e-4)
    assert m["attack_success_rate"] == pytest.approx(0.6667, abs=1e-4)  # 2 of the 3 it had right
    assert m["words_changed"] == 0.15 and m["mean_queries"] == 4.0
    for name in ("clean_accuracy", "perturbed_accuracy", "degradation", "attack_success_rate"):
        low, high = m["ci"][name]
        assert low <= m[name] <= high
    assert m["ci"]["degradation"][0] >= 0  # the pairing: no example got better
    assert degradation_metrics([1, 1, 1, 0], [1, 0, 0, 0], [0] * 4, [0] * 4, seed=0) == \
        {**m, "words_changed": 0.0, "mean_queries": 0.0}


def test_success_rate_is_undefined_when_the_model_had_nothing_right():
    m = degradation_metrics([0, 0], [0, 1], [0, 0], [0, 0], seed=1)
    assert m["attack_success_rate"] is None and m["relative_degradation"] is None
    assert m["degradation"] == -0.5
