"""Bilingual dictionaries for code-switching, from two kinds of files.

TSV: a header naming the two languages (`en<TAB>de`), then one `word<TAB>translation` per
line (a word may have several lines).

dictd (Debian's freedict packages, e.g. `apt-get install dict-freedict-eng-deu`):
`freedict-eng-deu.index` holds `headword<TAB>offset<TAB>length` lines, offset and length
written in base 64 (A-Z a-z 0-9 + /, most significant digit first); they point at bytes of
`freedict-eng-deu.dict.dz`, a gzip (dictzip) file, or of an uncompressed `.dict`. An entry's
first line is the headword with its pronunciation; its first unindented line after that is
the first sense, comma-separated translations. The languages come from the file name
(ISO 639-3, as freedict names its files).

A `DictionaryBank` answers "translations of this word from language L": from a dictionary
L->X, from an X->L dictionary read backwards when there is no L->English one, and through
English (L->en->X) for targets with no direct dictionary.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from xstilts.errors import XstiltsError
from xstilts.languages import LANGUAGE_INFO
from xstilts.robustness.text import has_letter, words

FREEDICT_DIR = Path("/usr/share/dictd")
PIVOT = "en"
_BASE64 = {ch: value for value, ch in enumerate(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
# freedict's ISO 639-3 names of the languages xstilts knows.
_ISO639_3 = {
    "afr": "af", "ara": "ar", "bul": "bg", "deu": "de", "ell": "el", "eng": "en", "fin": "fi",
    "fra": "fr", "hin": "hi", "hun": "hu", "ind": "id", "ita": "it", "jpn": "ja", "lit": "lt",
    "nld": "nl", "pol": "pl", "por": "pt", "rus": "ru", "spa": "es", "swh": "sw", "tur": "tr",
}
_MAX_TRANSLATION_WORDS = 2
_TRANSLATIONS_PER_ENTRY = 3
# Grammar notes, pronunciations, cross-references and sense numbers around translations in
# freedict entries ("1. Katze <f>", "летен 2.", "/ˈsʌməɹi/").
_ANNOTATION = re.compile(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|/[^/]*/|(^|\s)\d+\.(?=\s|$)")


def decode_base64_number(text: str) -> int:
    """dictd's base-64 numbers; KeyError for a character outside the alphabet."""
    value = 0
    for ch in text:
        value = value * 64 + _BASE64[ch]
    return value


def translations_in(cell: str) -> list[str]:
    """The usable translations in a dictionary cell or sense line: annotations removed, split
    at commas and semicolons, at most two words each, with letters."""
    # Stress marks of Russian/Bulgarian dictionaries stay combining after NFC; the texts have none.
    text = unicodedata.normalize("NFC", cell).replace("\u0301", "").replace("\u0300", "")
    text = _ANNOTATION.sub(" ", text).replace("~", " ")  # eng-hin joins words with "~"
    found = []
    for piece in re.split(r"[,;]", text):
        piece = " ".join(piece.split()).strip(" .:!?\"'")
        if piece and has_letter(piece) and len(words(piece)) <= _MAX_TRANSLATION_WORDS and "<" not in piece:
            found.append(piece)
    return found


class Lexicon:
    """Word -> translations from one language into another."""

    def __init__(self, source: str, target: str, origin: str, table: dict[str, list[str]] | None = None):
        self.source, self.target, self.origin = source, target, origin
        self.table = table if table is not None else {}

    @property
    def pair(self) -> str:
        return f"{self.source}-{self.target}"

    def lookup(self, word: str) -> list[str]:
        return self.table.get(word) or self.table.get(word.lower()) or []

    def entries(self):
        return self.table.items()

    def inverted(self) -> Lexicon:
        table: dict[str, list[str]] = {}
        for word, translations in self.entries():
            if len(words(word)) == 1:
                for translation in translations:
                    table.setdefault(translation, []).append(word)
        return Lexicon(self.target, self.source, f"{self.origin} (read backwards)", table)


class DictdLexicon(Lexicon):
    """A dictd dictionary, parsed entry by entry as words are looked up."""

    def __init__(self, index: Path, source: str, target: str):
        super().__init__(source, target, str(index))
        self.index = index
        self._offsets: dict[str, list[tuple[int, int]]] | None = None
        self._data: bytes | None = None

    def _load(self) -> None:
        if self._offsets is not None:
            return
        base = str(self.index)[: -len(".index")]
        data_file = next((Path(base + s) for s in (".dict.dz", ".dict") if Path(base + s).is_file()), None)
        if data_file is None:
            raise XstiltsError(f"{self.index}: no {Path(base).name}.dict.dz or .dict beside it")
        raw = data_file.read_bytes()
        self._data = gzip.decompress(raw) if data_file.suffix == ".dz" else raw
        offsets: dict[str, list[tuple[int, int]]] = {}
        with self.index.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                parts = line.rstrip("\n").split("\t")
                try:
                    headword, span = parts[0], (decode_base64_number(parts[1]), decode_base64_number(parts[2]))
                except (IndexError, KeyError):
                    raise XstiltsError(f"{self.index}:{lineno}: not a dictd index line "
                                       "(expected headword<TAB>base64 offset<TAB>base64 length)") from None
                if headword and not headword.startswith(("00database", "00-database")):
                    offsets.setdefault(headword.lower(), []).append(span)
        self._offsets = offsets

    def _entry(self, offset: int, length: int) -> tuple[str, list[str]]:
        """(headword as written, translations of the first sense)."""
        lines = self._data[offset:offset + length].decode("utf-8", errors="replace").split("\n")
        headword = re.split(r" /| <", lines[0], maxsplit=1)[0].strip()
        sense = next((line for line in lines[1:] if line.strip() and not line[0].isspace()), "")
        return headword, translations_in(sense)[:_TRANSLATIONS_PER_ENTRY]

    def lookup(self, word: str) -> list[str]:
        if word not in self.table:
            self._load()
            found: list[str] = []
            entries = [self._entry(*span) for span in self._offsets.get(word.lower(), [])]
            # An exact headword first; a lower-case one for a capitalised sentence start. A
            # capitalised headword (a name) never matches a lower-case word.
            for wanted in dict.fromkeys((word, word.lower())):
                for headword, translations in entries:
                    if headword == wanted:
                        found += [t for t in translations if t not in found]
            self.table[word] = found
        return self.table[word]

    def entries(self):
        self._load()
        for spans in self._offsets.values():
            for span in spans:
                headword, translations = self._entry(*span)
                yield headword, translations


def read_tsv_lexicon(path: Path) -> Lexicon:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    if len(header) != 2 or any(code not in LANGUAGE_INFO for code in header):
        raise XstiltsError(f"{path}:1: a dictionary TSV starts with a header of two language codes, "
                           f"e.g. 'en<TAB>de' (got {lines[0][:40] if lines else 'an empty file'!r})")
    table: dict[str, list[str]] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            raise XstiltsError(f"{path}:{lineno}: expected word<TAB>translation, got {len(cells)} field(s)")
        known = table.setdefault(cells[0].strip(), [])
        known += [t for t in translations_in(cells[1]) if t not in known]
    return Lexicon(header[0], header[1], str(path), table)


def dictd_languages(index: Path) -> tuple[str, str] | None:
    """(source, target) from a freedict file name such as freedict-eng-deu.index."""
    match = re.search(r"([a-z]{3})-([a-z]{3})\.index$", index.name)
    if match is None or match.group(1) not in _ISO639_3 or match.group(2) not in _ISO639_3:
        return None
    return _ISO639_3[match.group(1)], _ISO639_3[match.group(2)]


def open_dictionaries(paths: list[Path]) -> tuple[list[Lexicon], list[str]]:
    """Lexicons from TSV files, dictd `.index` files and folders of them; plus notes on
    dictd files skipped because their languages are not ones xstilts knows."""
    lexicons: list[Lexicon] = []
    notes: list[str] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".tsv", ".index"))
        elif path.is_file() and path.suffix in (".tsv", ".index"):
            files = [path]
        else:
            raise XstiltsError(f"--dictionary {path}: not a .tsv file, a dictd .index file or a folder of them")
        for file in files:
            if file.suffix == ".tsv":
                lexicons.append(read_tsv_lexicon(file))
            elif (langs := dictd_languages(file)) is not None:
                lexicons.append(DictdLexicon(file, *langs))
            else:
                notes.append(f"{file.name}: languages not known to xstilts (known: {', '.join(sorted(_ISO639_3))})")
    return lexicons, notes


@dataclass(frozen=True)
class Translation:
    text: str
    target: str
    pair: str  # "en-de", or "de-en-fr" through English


class DictionaryBank:
    def __init__(self, lexicons: list[Lexicon]):
        self.files = sorted({lexicon.origin for lexicon in lexicons})
        self.lexicons: dict[tuple[str, str], Lexicon] = {}
        for lexicon in lexicons:
            self.lexicons.setdefault((lexicon.source, lexicon.target), lexicon)

    def _lexicon(self, source: str, target: str) -> Lexicon | None:
        if (source, target) not in self.lexicons and (target, source) in self.lexicons:
            # Only when no direct dictionary exists: reading one backwards parses all of it.
            self.lexicons[(source, target)] = self.lexicons[(target, source)].inverted()
        return self.lexicons.get((source, target))

    def targets(self, source: str) -> list[str]:
        """Languages a word of `source` can be translated into, directly or through English."""
        direct = {t for s, t in self.lexicons if s == source} | {s for s, t in self.lexicons if t == source}
        if PIVOT in direct:
            direct |= {t for s, t in self.lexicons if s == PIVOT} | {s for s, t in self.lexicons if t == PIVOT}
        return sorted(direct - {source})

    def translations(self, word: str, source: str, targets: list[str] | None = None) -> list[Translation]:
        """Translations into each target language (all by default), direct dictionaries first."""
        out: list[Translation] = []
        wanted = [t for t in self.targets(source) if targets is None or t in targets]
        english = []
        if source != PIVOT and (to_english := self._lexicon(source, PIVOT)):
            english = to_english.lookup(word)
        for target in wanted:
            direct = self._lexicon(source, target)
            if direct is not None:
                out += [Translation(t, target, direct.pair) for t in direct.lookup(word)]
            elif (from_english := self._lexicon(PIVOT, target)) is not None:
                out += [Translation(t, target, f"{source}-{PIVOT}-{target}")
                        for e in english if len(words(e)) == 1 for t in from_english.lookup(e)]
        unique = dict.fromkeys(t for t in out if t.text.lower() != word.lower())
        return list(unique)
