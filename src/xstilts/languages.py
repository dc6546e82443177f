"""Language metadata for typological analysis: ISO 639-1 <-> 639-3 codes, family and script.

Covers every language of XTREME (40) and XTREME-R (50), which includes XNLI, PAWS-X and XCOPA.
The ISO 639-3 code is the standard equivalent of the ISO 639-1 code; for macrolanguages
(ar, az, et, fa, ms, qu, sw, zh) that is the macrolanguage code (ara, not arb), which is also
the URIEL entry with the most complete data. Families follow the XTREME papers' grouping
(isolates are their own family); `branch` is the sub-family people name in papers.
"""

from __future__ import annotations

from dataclasses import dataclass

from xstilts.errors import XstiltsError


@dataclass(frozen=True)
class LanguageInfo:
    code: str  # ISO 639-1, as XTREME names its files
    iso639_3: str
    name: str
    family: str
    branch: str
    script: str


_LANGUAGES = (
    LanguageInfo("af", "afr", "Afrikaans", "Indo-European", "Germanic", "Latin"),
    LanguageInfo("ar", "ara", "Arabic", "Afro-Asiatic", "Semitic", "Arabic"),
    LanguageInfo("az", "aze", "Azerbaijani", "Turkic", "Oghuz", "Latin"),
    LanguageInfo("bg", "bul", "Bulgarian", "Indo-European", "Slavic", "Cyrillic"),
    LanguageInfo("bn", "ben", "Bengali", "Indo-European", "Indo-Aryan", "Bengali"),
    LanguageInfo("de", "deu", "German", "Indo-European", "Germanic", "Latin"),
    LanguageInfo("el", "ell", "Greek", "Indo-European", "Hellenic", "Greek"),
    LanguageInfo("en", "eng", "English", "Indo-European", "Germanic", "Latin"),
    LanguageInfo("es", "spa", "Spanish", "Indo-European", "Romance", "Latin"),
    LanguageInfo("et", "est", "Estonian", "Uralic", "Finnic", "Latin"),
    LanguageInfo("eu", "eus", "Basque", "Basque (isolate)", "", "Latin"),
    LanguageInfo("fa", "fas", "Persian", "Indo-European", "Iranian", "Arabic"),
    LanguageInfo("fi", "fin", "Finnish", "Uralic", "Finnic", "Latin"),
    LanguageInfo("fr", "fra", "French", "Indo-European", "Romance", "Latin"),
    LanguageInfo("gu", "guj", "Gujarati", "Indo-European", "Indo-Aryan", "Gujarati"),
    LanguageInfo("he", "heb", "Hebrew", "Afro-Asiatic", "Semitic", "Hebrew"),
    LanguageInfo("hi", "hin", "Hindi", "Indo-European", "Indo-Aryan", "Devanagari"),
    LanguageInfo("ht", "hat", "Haitian Creole", "Creole", "French-based", "Latin"),
    LanguageInfo("hu", "hun", "Hungarian", "Uralic", "Ugric", "Latin"),
    LanguageInfo("id", "ind", "Indonesian", "Austronesian", "Malayo-Polynesian", "Latin"),
    LanguageInfo("it", "ita", "Italian", "Indo-European", "Romance", "Latin"),
    LanguageInfo("ja", "jpn", "Japanese", "Japonic", "", "Japanese (Han, kana)"),
    LanguageInfo("jv", "jav", "Javanese", "Austronesian", "Malayo-Polynesian", "Latin"),
    LanguageInfo("ka", "kat", "Georgian", "Kartvelian", "", "Georgian"),
    LanguageInfo("kk", "kaz", "Kazakh", "Turkic", "Kipchak", "Cyrillic"),
    LanguageInfo("ko", "kor", "Korean", "Korean (isolate)", "", "Hangul"),
    LanguageInfo("lt", "lit", "Lithuanian", "Indo-European", "Baltic", "Latin"),
    LanguageInfo("ml", "mal", "Malayalam", "Dravidian", "South Dravidian", "Malayalam"),
    LanguageInfo("mr", "mar", "Marathi", "Indo-European", "Indo-Aryan", "Devanagari"),
    LanguageInfo("ms", "msa", "Malay", "Austronesian", "Malayo-Polynesian", "Latin"),
    LanguageInfo("my", "mya", "Burmese", "Sino-Tibetan", "Lolo-Burmese", "Myanmar"),
    LanguageInfo("nl", "nld", "Dutch", "Indo-European", "Germanic", "Latin"),
    LanguageInfo("pa", "pan", "Punjabi", "Indo-European", "Indo-Aryan", "Gurmukhi"),
    LanguageInfo("pl", "pol", "Polish", "Indo-European", "Slavic", "Latin"),
    LanguageInfo("pt", "por", "Portuguese", "Indo-European", "Romance", "Latin"),
    LanguageInfo("qu", "que", "Quechua", "Quechuan", "", "Latin"),
    LanguageInfo("ro", "ron", "Romanian", "Indo-European", "Romance", "Latin"),
    LanguageInfo("ru", "rus", "Russian", "Indo-European", "Slavic", "Cyrillic"),
    LanguageInfo("sw", "swa", "Swahili", "Niger-Congo", "Bantu", "Latin"),
    LanguageInfo("ta", "tam", "Tamil", "Dravidian", "South Dravidian", "Tamil"),
    LanguageInfo("te", "tel", "Telugu", "Dravidian", "South-Central Dravidian", "Telugu"),
    LanguageInfo("th", "tha", "Thai", "Kra-Dai", "Tai", "Thai"),
    LanguageInfo("tl", "tgl", "Tagalog", "Austronesian", "Malayo-Polynesian", "Latin"),
    LanguageInfo("tr", "tur", "Turkish", "Turkic", "Oghuz", "Latin"),
    LanguageInfo("uk", "ukr", "Ukrainian", "Indo-European", "Slavic", "Cyrillic"),
    LanguageInfo("ur", "urd", "Urdu", "Indo-European", "Indo-Aryan", "Arabic"),
    LanguageInfo("vi", "vie", "Vietnamese", "Austro-Asiatic", "Vietic", "Latin"),
    LanguageInfo("wo", "wol", "Wolof", "Niger-Congo", "Atlantic", "Latin"),
    LanguageInfo("yo", "yor", "Yoruba", "Niger-Congo", "Volta-Niger", "Latin"),
    LanguageInfo("zh", "zho", "Chinese", "Sino-Tibetan", "Sinitic", "Han"),
)

LANGUAGE_INFO: dict[str, LanguageInfo] = {info.code: info for info in _LANGUAGES}
_BY_ISO639_3: dict[str, LanguageInfo] = {info.iso639_3: info for info in _LANGUAGES}

XTREME_LANGUAGES = (
    "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru "
    "sw ta te th tl tr ur vi yo zh"
).split()
XTREME_R_LANGUAGES = sorted(XTREME_LANGUAGES + "az gu ht lt pa pl qu ro uk wo".split())


def language_info(code: str) -> LanguageInfo:
    """Metadata of an ISO 639-1 code; unknown codes are a user error naming the known ones."""
    if code not in LANGUAGE_INFO:
        raise XstiltsError(f"unknown language code '{code}'; known ISO 639-1 codes: {', '.join(LANGUAGE_INFO)}")
    return LANGUAGE_INFO[code]


def to_iso639_3(code: str) -> str:
    return language_info(code).iso639_3


def from_iso639_3(code: str) -> str:
    if code not in _BY_ISO639_3:
        raise XstiltsError(f"unknown ISO 639-3 code '{code}'; known: {', '.join(sorted(_BY_ISO639_3))}")
    return _BY_ISO639_3[code].code
