"""Language metadata: every XTREME / XTREME-R language, codes both ways, families, scripts."""

from __future__ import annotations

import pytest

from xstilts.data.registry import registry
from xstilts.errors import XstiltsError
from xstilts.languages import (
    LANGUAGE_INFO,
    XTREME_LANGUAGES,
    XTREME_R_LANGUAGES,
    from_iso639_3,
    language_info,
    to_iso639_3,
)


def test_benchmarks_are_covered():
    assert len(XTREME_LANGUAGES) == 40 and len(XTREME_R_LANGUAGES) == 50
    assert set(XTREME_LANGUAGES) <= set(XTREME_R_LANGUAGES)
    assert set(XTREME_R_LANGUAGES) == set(LANGUAGE_INFO)


def test_every_task_language_has_metadata():
    for spec in registry().values():
        assert set(spec.languages) <= set(LANGUAGE_INFO), spec.name


@pytest.mark.parametrize("code, iso3, family, script", [
    ("en", "eng", "Indo-European", "Latin"),
    ("sw", "swa", "Niger-Congo", "Latin"),  # macrolanguage code, as ISO 639-1 'sw' maps to
    ("zh", "zho", "Sino-Tibetan", "Han"),
    ("ar", "ara", "Afro-Asiatic", "Arabic"),
    ("ur", "urd", "Indo-European", "Arabic"),
    ("tl", "tgl", "Austronesian", "Latin"),
    ("eu", "eus", "Basque (isolate)", "Latin"),
])
def test_known_codes(code, iso3, family, script):
    info = language_info(code)
    assert (info.iso639_3, info.family, info.script) == (iso3, family, script)
    assert to_iso639_3(code) == iso3 and from_iso639_3(iso3) == code


def test_codes_are_unique_and_round_trip():
    iso3 = [info.iso639_3 for info in LANGUAGE_INFO.values()]
    assert len(set(iso3)) == len(iso3)
    assert all(from_iso639_3(to_iso639_3(code)) == code for code in LANGUAGE_INFO)


def test_unknown_codes_are_user_errors():
    with pytest.raises(XstiltsError, match="unknown language code 'xx'; known ISO 639-1 codes: af, ar"):
        language_info("xx")
    with pytest.raises(XstiltsError, match="unknown ISO 639-3 code 'xxx'"):
        from_iso639_3("xxx")
