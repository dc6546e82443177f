"""Typological distances between languages from URIEL, through the `urielplus` package.

Each distance is urielplus's angular distance (0 = identical, 1 = nothing shared) between two
languages' URIEL vectors of one kind, with urielplus's default settings (original URIEL data,
no imputation). Where URIEL has no data for a language, or no feature both languages have, the
distance is `None`: such a language is reported and left out of fits, never counted as 0.

Computed distances are cached as JSON in `<xstilts cache>/typology/`, one file per urielplus
version, so only the first analysis of a language pair loads URIEL (about 2 s).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from xstilts.io import cache_root, write_json_atomic
from xstilts.languages import LANGUAGE_INFO

DISTANCE_KINDS = ("syntactic", "genetic", "geographic", "phonological", "inventory", "featural")


@dataclass(frozen=True)
class Distances:
    """Distances from `source` to each target: `values[target][kind]`, None where URIEL lacks data."""

    source: str
    kinds: tuple[str, ...]
    values: dict[str, dict[str, float | None]]

    def known(self, kind: str) -> dict[str, float]:
        return {lang: d[kind] for lang, d in self.values.items() if d[kind] is not None}

    def missing(self, kind: str) -> list[str]:
        return [lang for lang, d in self.values.items() if d[kind] is None]

    def describe_missing(self, kind: str) -> str | None:
        """One line for people, or None when every language has this distance."""
        langs = self.missing(kind)
        if not langs:
            return None
        named = ", ".join(f"{lang} ({LANGUAGE_INFO[lang].iso639_3})" if lang in LANGUAGE_INFO
                          else f"{lang} (no ISO 639-3 code known)" for lang in langs)
        return f"{kind} distance from {self.source}: URIEL has no data for {named}; left out of the {kind} fits"


def distances_from(source: str, targets: Iterable[str], kinds: Iterable[str] = DISTANCE_KINDS) -> Distances:
    """Distances from `source` to every target language (ISO 639-1 codes), cached on disk."""
    kinds = list(kinds)
    targets = list(dict.fromkeys(targets))
    cache_file = _cache_file()
    cache: dict[str, dict[str, float | None]] = (
        json.loads(cache_file.read_text(encoding="utf-8")) if cache_file.is_file() else {}
    )
    values: dict[str, dict[str, float | None]] = {}
    changed = False
    for target in targets:
        if source not in LANGUAGE_INFO or target not in LANGUAGE_INFO:
            values[target] = {kind: None for kind in kinds}
            continue
        pair = f"{LANGUAGE_INFO[source].iso639_3}-{LANGUAGE_INFO[target].iso639_3}"
        entry = cache.setdefault(pair, {})
        for kind in kinds:
            if kind not in entry:
                entry[kind] = uriel_distance(kind, LANGUAGE_INFO[source].iso639_3, LANGUAGE_INFO[target].iso639_3)
                changed = True
        values[target] = {kind: entry[kind] for kind in kinds}
    if changed:
        write_json_atomic(cache_file, cache)
    return Distances(source, tuple(kinds), values)


def uriel_distance(kind: str, a: str, b: str) -> float | None:
    """urielplus's distance between two ISO 639-3 codes, None where URIEL cannot give one."""
    uriel = _uriel()
    if a not in uriel.langs[0] or b not in uriel.langs[0]:
        return None
    with _quiet_root_logger():
        try:
            return float(uriel.new_distance(kind, [a, b]))
        except ValueError as exc:
            # urielplus raises ValueError("No shared <kind> features between ...") for missing data.
            if "No shared" in str(exc):
                return None
            raise


def _cache_file() -> Path:
    return cache_root() / "typology" / f"urielplus-{version('urielplus')}-distances.json"


@lru_cache(maxsize=1)
def _uriel():
    with _quiet_root_logger():
        from urielplus import urielplus  # imported here: importing it logs, and loads its database

        return urielplus.URIELPlus()


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """urielplus calls logging.basicConfig(level=INFO) when imported and logs a line per
    distance; keep the root logger as the application set it and drop those lines."""
    root = logging.getLogger()
    handlers, level, disabled = root.handlers[:], root.level, logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.disable(disabled)
