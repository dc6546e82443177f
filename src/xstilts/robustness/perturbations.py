"""The perturbation protocol and the model-free, label-preserving perturbations.

A perturbation is a pydantic model: its validated parameters (`seed`, mostly `strength`, its
own options) plus `perturb_all`, which maps a language's examples to perturbed ones. Every
perturbation edits an example's text fields (`texts` then `choices`), so it works for every
format whose label does not depend on character offsets (classification, pairs, multiple
choice); a later format (span extraction, tagging) declares itself in `formats` once its
perturbations keep the label's offsets right.

`strength` is the fraction of an example's words a perturbation touches: it touches
round(strength x words) of them, at least one, at most as many as it can change.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from xstilts.robustness.text import (
    CHARACTER_WORD_SCRIPTS,
    Token,
    has_letter,
    is_cased,
    is_letter,
    same_script_neighbours,
    script_of,
    scripts_in,
    tokenize,
)
from xstilts.tasks.example import Example
from xstilts.tasks.spec import TaskFormat, TaskSpec

if TYPE_CHECKING:  # only for annotations: model-free perturbations need neither torch nor dictionaries
    from xstilts.robustness.dictionaries import DictionaryBank
    from xstilts.robustness.scoring import ModelScorer

Position = tuple[int, int]  # (text field, token index)


@dataclass(frozen=True)
class Perturbed:
    """A perturbed example with what it cost: words touched out of the example's words, model
    queries spent (attacks), and the dictionary language pairs used (code-switching)."""

    example: Example
    changed_words: int
    total_words: int
    queries: int = 0
    language_pairs: tuple[str, ...] = ()


@dataclass
class PerturbContext:
    """What a perturbation may use beyond its parameters, for one task and language."""

    task: TaskSpec
    lang: str
    # Words never touched (lower case), e.g. the English question XCOPA appends to every premise.
    protected: frozenset[str] = frozenset()
    scorer: ModelScorer | None = None             # for attacks
    dictionaries: DictionaryBank | None = None    # for code-switching
    clean_probabilities: dict = field(default_factory=dict)  # uid -> the model's clean probabilities


def word_budget(strength: float, total_words: int, changeable: int) -> int:
    return min(changeable, max(1, int(strength * total_words + 0.5)))


def text_fields(example: Example) -> tuple[str, ...]:
    return example.texts + example.choices


def with_text_fields(example: Example, fields: list[str]) -> Example:
    n = len(example.texts)
    return replace(example, texts=tuple(fields[:n]), choices=tuple(fields[n:]))


class Words:
    """An example's text fields as tokens, its words addressable across fields. `protected`
    holds lower-cased words that are never changeable."""

    def __init__(self, example: Example, protected: frozenset[str] = frozenset()):
        self.example = example
        self.fields = [tokenize(text) for text in text_fields(example)]
        self.positions: list[Position] = [
            (f, i) for f, tokens in enumerate(self.fields) for i, t in enumerate(tokens) if t.is_word]
        self.protected = protected

    @property
    def total(self) -> int:
        return len(self.positions)

    def text(self, pos: Position) -> str:
        return self.fields[pos[0]][pos[1]].text

    def changeable(self, predicate: Callable[[str], bool] = has_letter) -> list[Position]:
        return [p for p in self.positions if self.text(p).lower() not in self.protected and predicate(self.text(p))]

    def replaced(self, changes: dict[Position, str]) -> Example:
        """The example with the tokens at the given positions (words or separators) replaced."""
        fields = [[changes.get((f, i), t.text) for i, t in enumerate(tokens)]
                  for f, tokens in enumerate(self.fields)]
        return with_text_fields(self.example, ["".join(parts) for parts in fields])


def example_rng(seed: int, name: str, lang: str, uid: str) -> random.Random:
    """One generator per example, so an example's perturbation depends only on the seed and the
    example, never on which other examples were selected or in what order."""
    return random.Random(f"{name}:{seed}:{lang}:{uid}")


OneExample = Callable[[Example, random.Random], "Perturbed | None"]


class Perturbation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str]
    description: ClassVar[str]
    label_preserving: ClassVar[bool] = True
    # Attacks search with the model: their examples are specific to the model that made them.
    uses_model: ClassVar[bool] = False
    formats: ClassVar[frozenset[TaskFormat]] = frozenset(
        {"single_classification", "pair_classification", "multiple_choice"})

    seed: int = 42
    protected_words: tuple[str, ...] = ()

    def skip_reason(self, context: PerturbContext) -> str | None:
        """Why this perturbation cannot run on the context's task and language, or None."""
        if context.task.format not in self.formats:
            return f"not defined for the {context.task.format} format"
        return None

    def words(self, example: Example, context: PerturbContext) -> Words:
        return Words(example, context.protected | {w.lower() for w in self.protected_words})

    def perturb(self, example: Example, rng: random.Random, context: PerturbContext) -> Perturbed | None:
        """One example, or None when nothing in it can be perturbed (it is left out)."""
        raise NotImplementedError

    def perturber(self, examples: list[Example], context: PerturbContext) -> OneExample:
        """What perturbs one example of this set; set-level preparation (e.g. a pool of
        replacement names) happens here."""
        return lambda example, rng: self.perturb(example, rng, context)

    def perturb_all(self, examples: list[Example], context: PerturbContext,
                    advance: Callable[[int], None] = lambda n: None) -> list[Perturbed]:
        perturb = self.perturber(examples, context)
        out = []
        for example in examples:
            result = perturb(example, example_rng(self.seed, self.name, context.lang, example.uid))
            if result is not None:
                out.append(result)
            advance(1)
        return out


class WordBudgetPerturbation(Perturbation):
    """A perturbation that touches round(strength x words) words of an example (at least one)."""

    strength: float = Field(0.15, gt=0, le=1)


class WordEditPerturbation(WordBudgetPerturbation):
    """Touches `word_budget` randomly chosen changeable words, each through `edit`."""

    def changeable(self, word: str) -> bool:
        return has_letter(word)

    def edit(self, words: Words, pos: Position, rng: random.Random) -> dict[Position, str]:
        raise NotImplementedError

    def perturb(self, example, rng, context):
        words = self.words(example, context)
        candidates = words.changeable(self.changeable)
        if not candidates:
            return None
        chosen = sorted(rng.sample(candidates, word_budget(self.strength, words.total, len(candidates))))
        changes: dict[Position, str] = {}
        for pos in chosen:
            changes.update(self.edit(words, pos, rng))
        return Perturbed(words.replaced(changes), len(chosen), words.total)


# ---------------------------------------------------------------- character noise

CharOperation = Literal["swap", "drop", "insert", "replace"]


def _char_edits(word: str) -> dict[CharOperation, list[int]]:
    """Where each character edit can apply in `word` (letter indices); empty lists where it can't."""
    letters = [i for i, ch in enumerate(word) if is_letter(ch)]
    with_neighbours = [i for i in letters if same_script_neighbours(word[i])]
    return {
        "swap": [i for i in letters if i + 1 in letters and word[i] != word[i + 1]],
        "drop": letters if len(letters) >= 2 else [],
        # In scripts written one character per word, an inserted character would add a word.
        "insert": [] if script_of(word[0]) in CHARACTER_WORD_SCRIPTS else with_neighbours,
        "replace": with_neighbours,
    }


def _noisy_word(word: str, operations: tuple[CharOperation, ...], rng: random.Random) -> str:
    """`word` with one character edit; a new character always has the script of the letter it
    is copied next to or replaces."""
    edits = _char_edits(word)
    operation = rng.choice([op for op in operations if edits[op]])
    i = rng.choice(edits[operation])
    if operation == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if operation == "drop":
        return word[:i] + word[i + 1:]
    neighbour = rng.choice(same_script_neighbours(word[i]))
    if operation == "insert":
        return word[:i + 1] + neighbour + word[i + 1:]
    return word[:i] + neighbour + word[i + 1:]


class CharNoise(WordEditPerturbation):
    name: ClassVar[str] = "char-noise"
    description: ClassVar[str] = "one character swapped, dropped, inserted or replaced per touched word (same script)"

    operations: tuple[CharOperation, ...] = Field(("swap", "drop", "insert", "replace"), min_length=1)

    def changeable(self, word: str) -> bool:
        edits = _char_edits(word)
        return any(edits[op] for op in self.operations)

    def edit(self, words, pos, rng):
        return {pos: _noisy_word(words.text(pos), self.operations, rng)}


# ---------------------------------------------------------------- word order


class WordOrder(WordBudgetPerturbation):
    name: ClassVar[str] = "word-order"
    description: ClassVar[str] = "adjacent words swapped (two words touched per swap)"

    def perturb(self, example, rng, context):
        words = self.words(example, context)
        changeable = set(words.changeable(lambda w: True))
        pairs = [(a, b) for a, b in zip(words.positions, words.positions[1:])
                 if a[0] == b[0] and a in changeable and b in changeable and words.text(a) != words.text(b)]
        if not pairs:
            return None
        rng.shuffle(pairs)
        wanted = max(1, int(self.strength * words.total / 2 + 0.5))
        used: set[Position] = set()
        changes: dict[Position, str] = {}
        for a, b in pairs:
            if len(used) >= 2 * wanted:
                break
            if a in used or b in used:
                continue
            used |= {a, b}
            changes[a], changes[b] = words.text(b), words.text(a)
        return Perturbed(words.replaced(changes), len(used), words.total)


# ---------------------------------------------------------------- punctuation, casing, whitespace

SurfaceOperation = Literal["case", "punctuation", "whitespace"]
_PUNCTUATION = (",", ".", "!", "?", ";", ":")


def _split_points(word: str) -> list[int]:
    """Where a space can split `word`: between two letters (not before a combining mark)."""
    return [k for k in range(1, len(word)) if is_letter(word[k]) and is_letter(word[k - 1])]


class SurfaceNoise(WordEditPerturbation):
    """Changes nothing but case, punctuation and spacing: the letters stay the same, in order."""

    name: ClassVar[str] = "surface-noise"
    description: ClassVar[str] = "per touched word: its case, punctuation after it, or a space split/merge"

    operations: tuple[SurfaceOperation, ...] = Field(("case", "punctuation", "whitespace"), min_length=1)

    def changeable(self, word: str) -> bool:
        # Punctuation can always be added after a word, so every word qualifies then.
        return "punctuation" in self.operations or (
            ("case" in self.operations and is_cased(word))
            or ("whitespace" in self.operations and bool(_split_points(word))))

    def edit(self, words, pos, rng):
        word = words.text(pos)
        f, i = pos
        tokens = words.fields[f]
        # The separator after the word; None at the end of a field or before another word (CJK).
        after = tokens[i + 1].text if i + 1 < len(tokens) and not tokens[i + 1].is_word else None
        between_words = i + 2 < len(tokens)
        options: list[dict[Position, str]] = []
        if "case" in self.operations and is_cased(word):
            recased = word.lower() if word != word.lower() else rng.choice([word.upper(), word[:1].upper() + word[1:]])
            options.append({pos: recased})
        if "punctuation" in self.operations:
            if after is not None and not after.isspace():
                spacing = "".join(c for c in after if c.isspace())
                options.append({(f, i + 1): spacing or (" " if between_words else "")})
            else:
                options.append({pos: word + rng.choice(_PUNCTUATION)})
        if "whitespace" in self.operations:
            splits = _split_points(word)
            if splits:
                k = rng.choice(splits)
                options.append({pos: word[:k] + " " + word[k:]})
            if after == " " and between_words:
                options.append({(f, i + 1): ""})  # merged with the next word
        return rng.choice(options)


# ---------------------------------------------------------------- Unicode variants

_FULL_WIDTH_ZERO = 0xFF10


def _unicode_variant(word: str) -> str:
    """NFC <-> NFD, and ASCII digits as full-width digits: a different code point sequence
    that reads the same."""
    variant = unicodedata.normalize("NFD" if word == unicodedata.normalize("NFC", word) else "NFC", word)
    return "".join(chr(_FULL_WIDTH_ZERO + int(c)) if "0" <= c <= "9" else c for c in variant)


class UnicodeVariants(WordEditPerturbation):
    name: ClassVar[str] = "unicode-variants"
    description: ClassVar[str] = "NFC/NFD switched and ASCII digits made full-width in touched words"

    def changeable(self, word: str) -> bool:
        return _unicode_variant(word) != word

    def edit(self, words, pos, rng):
        return {pos: _unicode_variant(words.text(pos))}


# ---------------------------------------------------------------- numbers and names


# German capitalises every noun: case tells no name there.
_NOUN_CAPITALISING = frozenset({"de"})


def _is_number(word: str) -> bool:
    return all(unicodedata.category(c) == "Nd" for c in word)


def _other_number(number: str, rng: random.Random) -> str:
    """A different number with as many digits, written in the same digit block."""
    while True:
        values = [rng.randrange(1 if k == 0 and len(number) > 1 else 0, 10) for k in range(len(number))]
        new = "".join(chr(ord(c) - unicodedata.digit(c) + v) for c, v in zip(number, values))
        if new != number:
            return new


def _sentence_initial(tokens: list[Token], i: int) -> bool:
    before = "".join(t.text for t in tokens[:i]).rstrip()
    return not before or before[-1] in ".!?。！？"


def _names(words: Words, lang: str) -> dict[str, set[int]]:
    """Capitalised words used as names (capitalised where no sentence starts), with the
    fields they occur in. None in languages that capitalise every noun."""
    if lang in _NOUN_CAPITALISING:
        return {}
    seen: dict[str, set[int]] = {}
    names = set()
    for f, i in words.positions:
        word = words.text((f, i))
        if is_cased(word) and word[:1].isupper() and word[1:] == word[1:].lower() and len(word) > 1:
            seen.setdefault(word, set()).add(f)
            if not _sentence_initial(words.fields[f], i):
                names.add(word)
    return {name: fields for name, fields in seen.items() if name in names}


def _shared_entities(words: Words, lang: str) -> list[str]:
    """Numbers and names occurring in two or more of the example's text fields."""
    entities: dict[str, set[int]] = {}
    for f, i in words.positions:
        if _is_number(words.text((f, i))):
            entities.setdefault(words.text((f, i)), set()).add(f)
    entities.update(_names(words, lang))
    return sorted(e for e, fields in entities.items() if len(fields) >= 2)


class EntitySwap(WordBudgetPerturbation):
    """Numbers and names that occur in two or more text fields (premise and hypothesis,
    context and a choice) are replaced everywhere in the example by the same new number or
    name, so the relation between the fields stays what it was. Names are found by case, so
    only in cased scripts and not in German; the new names are the names other examples of
    the language share. In inflecting languages a new name keeps the old name's slot but may
    carry another case ending (Russian `Гарвардском` for `Джо`): noise, not a label change."""

    name: ClassVar[str] = "entity-swap"
    description: ClassVar[str] = "numbers and names shared by the text fields replaced consistently"

    def perturber(self, examples, context):
        # New names are names other examples of the language share between their fields.
        pool = sorted({e for ex in examples for e in _shared_entities(self.words(ex, context), context.lang)
                       if not _is_number(e)})
        return lambda example, rng: self._swap(example, rng, context, pool)

    def _swap(self, example: Example, rng: random.Random, context: PerturbContext, name_pool: list[str]):
        words = self.words(example, context)
        changeable = {words.text(p) for p in words.changeable(lambda w: True)}
        in_example = {words.text(p) for p in words.positions}
        names = [n for n in name_pool if n not in in_example]
        shared = [e for e in _shared_entities(words, context.lang) if e in changeable and (
            _is_number(e) or any(scripts_in(n) == scripts_in(e) for n in names))]
        if not shared:
            return None
        new: dict[str, str] = {}
        for entity in rng.sample(shared, word_budget(self.strength, words.total, len(shared))):
            if _is_number(entity):
                new[entity] = _other_number(entity, rng)
                continue
            # A name of the same script, each name its own while the pool lasts.
            same_script = [n for n in names if scripts_in(n) == scripts_in(entity) and n not in new.values()]
            if same_script:
                new[entity] = rng.choice(same_script)
        changes = {p: new[words.text(p)] for p in words.positions if words.text(p) in new}
        return Perturbed(words.replaced(changes), len(changes), words.total)
