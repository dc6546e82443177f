"""The model-dependent attacks on the tiny random encoder: the greedy searches raise the loss
of a fixed example within their budgets, and TextFooler's neighbours keep the word's script."""

from __future__ import annotations

import math

import pytest
import torch

from xstilts.data.registry import get_task
from xstilts.robustness.perturbations import PerturbContext
from xstilts.robustness.registry import build_perturbation
from xstilts.robustness.text import scripts_in, words
from xstilts.robustness.textfooler import embedding_neighbours
from xstilts.tasks.example import Example

PREMISE, HYPOTHESIS = "the cat sits on the mat", "a dog runs in the park"


def _correct_example(scorer) -> tuple[Example, torch.Tensor]:
    """A fixed pair whose gold label is what the model predicts: an example it has right."""
    probabilities = scorer.probabilities([Example("x", (PREMISE, HYPOTHESIS), 0)])[0]
    return Example("x", (PREMISE, HYPOTHESIS), int(probabilities.argmax())), probabilities


def _attack(name: str, scorer, bank=None, **params):
    example, probabilities = _correct_example(scorer)
    context = PerturbContext(get_task("xnli"), "en", scorer=scorer, dictionaries=bank,
                             clean_probabilities={"x": probabilities})
    attack = build_perturbation(name, {"strength": 0.5, **params}, "test")
    record = attack.perturb_all([example], context)[0]
    after = scorer.probabilities([record.example])[0]
    loss = lambda p: -math.log(float(p[example.label]))  # noqa: E731
    return example, record, loss(probabilities), loss(after)


@pytest.mark.parametrize("name,params", [
    ("code-switch-adversarial", {"query_budget": 30}),
    ("textfooler", {"query_budget": 30, "neighbours": 5, "min_similarity": -1.0, "frequent_words_kept": 0}),
])
def test_greedy_attacks_raise_the_loss_within_their_budget(nli_scorer, bank, name, params):
    example, record, clean_loss, attacked_loss = _attack(name, nli_scorer, bank, **params)
    assert attacked_loss > clean_loss
    assert 1 <= record.changed_words <= 6  # half of the 12 words at most
    assert 1 < record.queries <= params["query_budget"]
    changed = [(a, b) for a, b in zip(words(PREMISE) + words(HYPOTHESIS),
                                        words(record.example.texts[0]) + words(record.example.texts[1])) if a != b]
    assert len(changed) == record.changed_words


def test_adversarial_code_switching_records_its_language_pairs(nli_scorer, bank):
    _, record, _, _ = _attack("code-switch-adversarial", nli_scorer, bank, query_budget=30)
    assert record.language_pairs and set(record.language_pairs) <= {"en-de", "en-ru"}
    assert len(record.language_pairs) == record.changed_words


def test_an_example_the_model_gets_wrong_is_not_attacked(nli_scorer):
    example, probabilities = _correct_example(nli_scorer)
    wrong = Example("x", example.texts, (example.label + 1) % 3)
    context = PerturbContext(get_task("xnli"), "en", scorer=nli_scorer, clean_probabilities={"x": probabilities})
    record = build_perturbation("textfooler", {}, "test").perturb_all([wrong], context)[0]
    assert record.example == wrong and record.changed_words == 0 and record.queries == 1


def test_textfooler_neighbours_stay_in_the_word_script(nli_scorer):
    index = embedding_neighbours(nli_scorer)
    found = index.neighbours(["cat", "katze", "кошка", "Cat"], k=5, min_similarity=-1.0)
    for word, neighbours in found.items():
        assert len(neighbours) == 5
        assert all(scripts_in(n) == scripts_in(word) for n in neighbours)
        assert all(n.lower() != word.lower() for n in neighbours)
    assert found["Cat"]  # an unknown word still has a vector: its pieces' mean


def test_textfooler_keeps_the_most_frequent_words(nli_scorer):
    example, probabilities = _correct_example(nli_scorer)
    context = PerturbContext(get_task("xnli"), "en", scorer=nli_scorer, clean_probabilities={"x": probabilities})
    attack = build_perturbation("textfooler", {"min_similarity": -1.0, "frequent_words_kept": 1}, "test")
    candidates = attack.candidate_finder([example], context)(attack.words(example, context))
    texts = {attack.words(example, context).text(p) for p in candidates}
    assert texts == set(words(PREMISE + " " + HYPOTHESIS)) - {"the"}  # "the" is the most frequent
