"""Bilingual dictionaries: the dictd format (plain and dictzip), TSV files, and the bank's
direct, backwards and through-English translations."""

from __future__ import annotations

import gzip
import shutil

import pytest
from robustness_helpers import DICTIONARIES

from xstilts.errors import XstiltsError
from xstilts.robustness.dictionaries import (
    DictdLexicon,
    DictionaryBank,
    decode_base64_number,
    open_dictionaries,
    read_tsv_lexicon,
)


@pytest.mark.parametrize("text,value", [("A", 0), ("B", 1), ("BA", 64), ("Bvz", 4096 + 47 * 64 + 51), ("/", 63)])
def test_dictd_base64_numbers(text, value):
    assert decode_base64_number(text) == value


def _eng_deu(folder=DICTIONARIES) -> DictdLexicon:
    return DictdLexicon(folder / "freedict-eng-deu.index", "en", "de")


def test_dictd_entries_give_the_first_sense_without_annotations():
    lexicon = _eng_deu()
    assert lexicon.lookup("cat") == ["Katze"]
    assert lexicon.lookup("book") == ["Buch", "Band"]
    assert lexicon.lookup("happy") == ["glücklich", "froh"]  # after a blank line
    assert lexicon.lookup("the") == ["der", "die", "das"]
    assert lexicon.lookup("Cat") == ["Katze"]  # a capitalised sentence start finds the word
    assert lexicon.lookup("job") == ["Arbeit", "Stelle"]  # not the name "Job"
    assert lexicon.lookup("Job") == ["Hiob", "Arbeit", "Stelle"]
    assert lexicon.lookup("00databaseinfo") == [] and lexicon.lookup("horse") == []


def test_dictzip_data_reads_like_plain_data(tmp_path):
    shutil.copy(DICTIONARIES / "freedict-eng-deu.index", tmp_path)
    (tmp_path / "freedict-eng-deu.dict.dz").write_bytes(
        gzip.compress((DICTIONARIES / "freedict-eng-deu.dict").read_bytes()))
    assert _eng_deu(tmp_path).lookup("book") == ["Buch", "Band"]


def test_malformed_dictd_index_names_its_line(tmp_path):
    shutil.copy(DICTIONARIES / "freedict-eng-deu.dict", tmp_path)
    (tmp_path / "freedict-eng-deu.index").write_text("cat\tCg\tp\ndog\tD!\tn\n", encoding="utf-8")
    with pytest.raises(XstiltsError, match=r"freedict-eng-deu.index:2: not a dictd index line"):
        _eng_deu(tmp_path).lookup("cat")


def test_tsv_dictionary_and_its_errors(tmp_path):
    lexicon = read_tsv_lexicon(DICTIONARIES / "en-ru.tsv")
    assert (lexicon.source, lexicon.target) == ("en", "ru")
    assert lexicon.lookup("happy") == ["счастлив", "рад"]
    (tmp_path / "bad.tsv").write_text("english\tgerman\ncat\tKatze\n", encoding="utf-8")
    with pytest.raises(XstiltsError, match=r"bad.tsv:1: .*two language codes"):
        read_tsv_lexicon(tmp_path / "bad.tsv")
    (tmp_path / "bad.tsv").write_text("en\tde\ncat\tKatze\tf\n", encoding="utf-8")
    with pytest.raises(XstiltsError, match=r"bad.tsv:2: expected word<TAB>translation"):
        read_tsv_lexicon(tmp_path / "bad.tsv")


def test_folder_gives_both_kinds_and_unknown_paths_fail(tmp_path):
    lexicons, notes = open_dictionaries([DICTIONARIES])
    assert sorted(lex.pair for lex in lexicons) == ["en-de", "en-ru"] and notes == []
    with pytest.raises(XstiltsError, match="not a .tsv file"):
        open_dictionaries([tmp_path / "missing.txt"])


def test_bank_translates_directly_backwards_and_through_english(bank: DictionaryBank):
    assert bank.targets("en") == ["de", "ru"]
    assert bank.targets("de") == ["en", "ru"]
    english = [(t.text, t.pair) for t in bank.translations("cat", "en")]
    assert english == [("Katze", "en-de"), ("кошка", "en-ru")]
    # German has no German->English dictionary: English->German read backwards, then on to Russian.
    german = [(t.text, t.pair) for t in bank.translations("Katze", "de")]
    assert german == [("cat", "de-en"), ("кошка", "de-en-ru")]
    assert [t.text for t in bank.translations("Katze", "de", targets=["ru"])] == ["кошка"]
    assert bank.targets("fr") == [] and bank.translations("chat", "fr") == []
