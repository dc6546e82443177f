"""Model-free perturbations: they keep the label, change the text by the stated strength, never
leave the input's script, and are deterministic given the seed."""

from __future__ import annotations

import unicodedata

import pytest

from xstilts.data.registry import get_task
from xstilts.robustness.perturbations import PerturbContext, text_fields
from xstilts.robustness.registry import PERTURBATIONS, build_perturbation
from xstilts.robustness.text import is_letter, same_script_neighbours, script_of, scripts_in, tokenize, words
from xstilts.tasks.example import Example

MODEL_FREE = [name for name, cls in PERTURBATIONS.items()
              if cls.label_preserving and not cls.uses_model and name != "code-switch"]
SCRIPTS = {
    "en": ("The old man walks slowly to the market every morning", "A man is walking to the market"),
    "ru": ("Старый человек медленно идёт на рынок каждое утро", "Человек идёт на рынок"),
    "ar": ("يمشي الرجل العجوز ببطء إلى السوق كل صباح", "الرجل يمشي إلى السوق"),
    "hi": ("बूढ़ा आदमी हर सुबह धीरे धीरे बाज़ार जाता है", "आदमी बाज़ार जा रहा है"),
    "el": ("Ο γέρος περπατά αργά στην αγορά κάθε πρωί", "Ένας άντρας πηγαίνει στην αγορά"),
    "zh": ("老人每天早上慢慢地走到市场", "一个男人去市场"),
    "th": ("ชายชรา เดิน ไป ตลาด ทุก เช้า", "ผู้ชาย ไป ตลาด"),
    "ko": ("노인은 매일 아침 천천히 시장에 걸어갑니다", "남자가 시장에 갑니다"),
    # Letters at the edge of their Unicode block: Coptic follows Greek sampi, Bengali Devanagari.
    "block-edges": ("ϡϠϡ ॿॾॿ ϡϡ", "ॿॿ ϡϠ"),
}


def _context(lang: str = "en", task: str = "xnli") -> PerturbContext:
    return PerturbContext(get_task(task), lang)


def _pair(uid: str, premise: str, hypothesis: str, label: int = 2) -> Example:
    return Example(uid, (premise, hypothesis), label)


def _changed_positions(before: Example, after: Example) -> int:
    """Word positions whose text differs (for perturbations that keep word boundaries)."""
    changed = 0
    for a, b in zip(text_fields(before), text_fields(after)):
        wa, wb = words(a), words(b)
        assert len(wa) == len(wb)
        changed += sum(x != y for x, y in zip(wa, wb))
    return changed


def test_tokens_rebuild_the_text_and_split_unspaced_scripts():
    for premise, hypothesis in SCRIPTS.values():
        assert "".join(t.text for t in tokenize(premise)) == premise
    assert words("老人每天") == ["老", "人", "每", "天"]
    assert words("धीरे धीरे बाज़ार, जाता।") == ["धीरे", "धीरे", "बाज़ार", "जाता"]  # vowel signs stay in the word


def test_same_script_neighbours_keep_script_and_category():
    for ch in "aZéжΩيकก老가ϡॿ":
        neighbours = same_script_neighbours(ch)
        assert neighbours
        assert {script_of(n) for n in neighbours} == {script_of(ch)}
        assert {unicodedata.category(n) for n in neighbours} == {unicodedata.category(ch)}


@pytest.mark.parametrize("name", MODEL_FREE)
def test_label_preserving_perturbations_keep_label_and_uid(name):
    perturbation = build_perturbation(name, {"strength": 0.5}, "test")
    examples = [_pair("a", "Anna paid 25 dollars to Peter in Paris", "Peter got 25 dollars from Anna", 0),
                _pair("b", "Maria met Peter in 1999", "Maria knows Peter", 1),
                _pair("c", "The café opened at 8 o'clock", "The café was open at 8", 2)]
    out = perturbation.perturb_all(examples, _context())
    assert out, "nothing perturbed"
    originals = {ex.uid: ex for ex in examples}
    for record in out:
        original = originals[record.example.uid]
        assert record.example.label == original.label
        assert record.example.texts != original.texts
        assert 0 < record.changed_words <= record.total_words == len(words(" ".join(original.texts)))


@pytest.mark.parametrize("name,strength,expected", [
    ("char-noise", 0.25, 5), ("char-noise", 0.5, 10), ("char-noise", 0.01, 1),
    ("unicode-variants", 0.25, 5), ("surface-noise", 0.25, 5), ("word-order", 0.25, 6),
])
def test_strength_is_the_fraction_of_words_touched(name, strength, expected):
    # 20 words, all of which every perturbation can change (each has an accent and a digit).
    premise = " ".join(f"café{i}" for i in range(12))
    hypothesis = " ".join(f"thé{i}" for i in range(8))
    example = _pair("x", premise, hypothesis)
    perturbation = build_perturbation(name, {"strength": strength, "seed": 3}, "test")
    if name == "surface-noise":
        perturbation = build_perturbation(name, {"strength": strength, "seed": 3, "operations": ["case"]}, "test")
    record = perturbation.perturb_all([example], _context())[0]
    assert record.changed_words == expected
    assert _changed_positions(example, record.example) == expected


def test_surface_noise_changes_only_case_punctuation_and_spacing():
    example = _pair("x", *SCRIPTS["en"])
    for seed in range(20):
        record = build_perturbation("surface-noise", {"strength": 0.4, "seed": seed}, "test").perturb_all(
            [example], _context())[0]
        assert record.example.texts != example.texts and record.changed_words == 7  # round(0.4 x 17)
        for before, after in zip(example.texts, record.example.texts):
            assert [c.lower() for c in after if is_letter(c)] == [c.lower() for c in before if is_letter(c)]


def test_unicode_variants_read_the_same_after_nfkc():
    example = _pair("x", "Le café coûte 3 euros à Zürich", "Il coûte 3 euros")
    record = build_perturbation("unicode-variants", {"strength": 1.0}, "test").perturb_all([example], _context())[0]
    assert record.example.texts != example.texts
    for before, after in zip(example.texts, record.example.texts):
        assert unicodedata.normalize("NFKC", after) == unicodedata.normalize("NFKC", before)
    assert "３" in record.example.texts[1]


@pytest.mark.parametrize("lang", SCRIPTS)
def test_character_noise_never_leaves_the_input_script(lang):
    example = _pair("x", *SCRIPTS[lang])
    for seed in range(25):
        perturbation = build_perturbation("char-noise", {"strength": 1.0, "seed": seed}, "test")
        record = perturbation.perturb_all([example], _context(lang))[0]
        assert record.example.texts != example.texts
        for before, after in zip(example.texts, record.example.texts):
            assert scripts_in(after) <= scripts_in(before), (before, after)


def test_entity_swap_replaces_shared_numbers_and_names_consistently():
    examples = [_pair("a", "Anna paid 25 dollars to Peter", "Peter got 25 dollars from Anna", 0),
                _pair("b", "Yesterday Maria met Jonas", "Jonas saw Maria", 0)]
    out = build_perturbation("entity-swap", {"strength": 1.0}, "test").perturb_all(examples, _context())
    premise, hypothesis = out[0].example.texts
    assert "Anna" not in premise + hypothesis and "Peter" not in premise + hypothesis and "25" not in premise
    new_words = set(words(premise)) - set(words("Anna paid 25 dollars to Peter"))
    assert new_words <= {"Maria", "Jonas"} | {w for w in words(premise) if w.isdigit()}
    number = next(w for w in words(premise) if w.isdigit())
    assert len(number) == 2 and number in words(hypothesis)
    # The same new name everywhere the old one was.
    assert words(premise)[5] == words(hypothesis)[0] and words(premise)[0] == words(hypothesis)[-1]
    assert out[0].changed_words == 6


def test_entity_swap_leaves_out_examples_with_nothing_shared():
    examples = [_pair("a", "the cat sits on the mat", "a dog runs")]
    assert build_perturbation("entity-swap", {}, "test").perturb_all(examples, _context()) == []


@pytest.mark.parametrize("name", MODEL_FREE)
def test_same_seed_same_output_and_independent_of_the_other_examples(name):
    examples = [_pair(str(i), f"Anna saw {i} cats near Peter in the old park", f"Peter saw {i} cats", i % 3)
                for i in range(10, 16)]
    perturbation = build_perturbation(name, {"strength": 0.3, "seed": 7}, "test")
    first = perturbation.perturb_all(examples, _context())
    again = build_perturbation(name, {"strength": 0.3, "seed": 7}, "test").perturb_all(examples, _context())
    assert first == again
    subset = perturbation.perturb_all(examples[3:], _context())
    assert subset == [r for r in first if r.example.uid in {ex.uid for ex in examples[3:]}]


def test_another_seed_gives_other_noise():
    example = _pair("x", *SCRIPTS["en"])
    outputs = {build_perturbation("char-noise", {"seed": seed}, "test").perturb_all([example], _context())[0].example
               for seed in range(5)}
    assert len(outputs) > 1


def test_protected_words_are_never_touched():
    example = Example("x", ("the man is not happy What was the cause?",), 0, ("it is raining today", "good film"))
    context = PerturbContext(get_task("xcopa"), "sw", protected=frozenset({"what", "was", "the", "cause"}))
    for seed in range(10):
        record = build_perturbation("char-noise", {"strength": 1.0, "seed": seed}, "test").perturb_all(
            [example], context)[0]
        assert record.example.texts[0].endswith("What was the cause?")
        assert words(record.example.texts[0])[0] == "the"


def test_each_surface_operation_alone_finds_something_to_change_in_every_script():
    for operation in ("case", "punctuation", "whitespace"):
        perturbation = build_perturbation("surface-noise", {"strength": 1.0, "operations": [operation]}, "test")
        for lang, (premise, hypothesis) in SCRIPTS.items():
            out = perturbation.perturb_all([_pair("x", premise, hypothesis)], _context(lang))
            # Only cased scripts have a case to change; Chinese words (one character each) cannot be
            # split and have no spaces to merge.
            expected = {"case": lang in ("en", "ru", "el", "block-edges"), "punctuation": True,
                        "whitespace": lang != "zh"}[operation]
            assert bool(out) == expected, (operation, lang)
