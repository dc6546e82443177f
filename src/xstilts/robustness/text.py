"""Words and scripts of text in any writing system.

A text splits into tokens whose concatenation is the text again: words (letters, marks and
digits) and the separators between them (spaces, punctuation). Han, Hiragana and Katakana
characters are one word each, since those scripts write no spaces; Thai, Lao, Khmer and
Burmese runs stay one word each (segmenting them needs a dictionary), so word-level
perturbations touch fewer, longer units in those languages.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

CHARACTER_WORD_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA"})
# How far from a character a same-script neighbour may lie, in code points.
_NEIGHBOUR_RADIUS = 16


@dataclass(frozen=True)
class Token:
    text: str
    is_word: bool


def is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def is_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "L"


@lru_cache(maxsize=65536)
def script_of(ch: str) -> str | None:
    """The script of a letter or mark: the first word of its Unicode name (LATIN, CYRILLIC,
    ARABIC, DEVANAGARI, CJK, THAI, ...). None for digits, punctuation and spaces, which
    every script shares."""
    if unicodedata.category(ch)[0] not in "LM":
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else None


def scripts_in(text: str) -> set[str]:
    return {s for s in map(script_of, text) if s is not None}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    for ch in text:
        word = is_word_char(ch)
        alone = word and script_of(ch) in CHARACTER_WORD_SCRIPTS
        last = tokens[-1] if tokens else None
        joins = (last is not None and last.is_word == word and not alone
                 and not (word and script_of(last.text[-1]) in CHARACTER_WORD_SCRIPTS))
        if joins:
            tokens[-1] = Token(last.text + ch, word)
        else:
            tokens.append(Token(ch, word))
    return tokens


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text) if t.is_word]


def has_letter(word: str) -> bool:
    return any(map(is_letter, word))


def is_cased(word: str) -> bool:
    return word.lower() != word.upper()


def match_case(model: str, word: str) -> str:
    """`word` capitalised like `model` (a capitalised original gives a capitalised substitute)."""
    if model[:1].isupper() and word[:1].islower():
        return word[:1].upper() + word[1:]
    return word


@lru_cache(maxsize=65536)
def same_script_neighbours(ch: str) -> tuple[str, ...]:
    """Characters near `ch` in the code chart with the same script and general category
    (a lower-case Latin letter gives lower-case Latin letters, a Devanagari consonant gives
    Devanagari consonants), nearest first. The replacement never leaves the input's script."""
    script, category = script_of(ch), unicodedata.category(ch)
    if script is None:
        return ()
    found = []
    for delta in range(1, _NEIGHBOUR_RADIUS + 1):
        for code in (ord(ch) - delta, ord(ch) + delta):
            if 0 <= code < 0x110000:
                other = chr(code)
                if unicodedata.category(other) == category and script_of(other) == script:
                    found.append(other)
    return tuple(found)
