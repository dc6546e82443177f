"""BUCC 2018's file layout (a local source with `layout: bitext`), as XTREME's download script
leaves it: a split `<prefix>` (e.g. `bucc2018/de-en.dev`) is

    <prefix>.<lang>   one `id<TAB>sentence` line per sentence of the non-English corpus
    <prefix>.en       the same for the English corpus
    <prefix>.gold     one `<lang> id<TAB>en id` line per parallel pair

and is read as rows of the retrieval format: one per gold pair (`source_id`, `source`,
`target_id`, `target`), then one per sentence in no gold pair (only its own side's fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xstilts.io import text_lines

Row = tuple[str, dict[str, Any]]


def bitext_files(prefix: Path, lang: str, target_lang: str) -> list[Path]:
    """The source-side, target-side and gold files of a split."""
    return [prefix.with_name(f"{prefix.name}.{suffix}") for suffix in (lang, target_lang, "gold")]


def _id_lines(path: Path, root: Path, what: str) -> Iterator[tuple[str, list[str] | None, str | None]]:
    """(place, [id, text], error) per non-blank line of a two-column file; the place is the
    file relative to the data folder `root` and the line."""
    name = path.relative_to(root).as_posix()
    for lineno, line in text_lines(path):
        cells = line.rstrip("\r\n").split("\t")
        if cells == [""]:
            continue
        place = f"{name}:{lineno}"
        if len(cells) != 2 or not all(c.strip() for c in cells):
            yield place, None, f"expected two non-empty tab-separated fields ({what}), got {len(cells)}"
        else:
            yield place, cells, None


def _sentences(path: Path, root: Path, errors: list[Row]) -> dict[str, tuple[str, str]]:
    """id -> (place, sentence); malformed lines and repeated ids become error rows."""
    sentences: dict[str, tuple[str, str]] = {}
    for place, cells, error in _id_lines(path, root, "id, sentence"):
        if cells is None:
            errors.append((place, {"__error__": error}))
        elif cells[0] in sentences:
            errors.append((place, {"__error__": f"id {cells[0]!r} already used at {sentences[cells[0]][0]}"}))
        else:
            sentences[cells[0]] = (place, cells[1])
    return sentences


def bitext_rows(prefix: Path, lang: str, target_lang: str, root: Path) -> Iterator[Row]:
    """The split's rows, each placed at `<file relative to root>:<line>`."""
    source_file, target_file, gold_file = bitext_files(prefix, lang, target_lang)
    errors: list[Row] = []
    sources = _sentences(source_file, root, errors)
    targets = _sentences(target_file, root, errors)
    yield from errors
    paired_sources: set[str] = set()
    paired_targets: set[str] = set()
    for place, cells, error in _id_lines(gold_file, root, f"{lang} id, {target_lang} id"):
        if cells is None:
            yield place, {"__error__": error}
            continue
        source_id, target_id = cells
        unknown = [f"{side} id {i!r}" for side, i, known in ((lang, source_id, sources), (target_lang, target_id, targets))
                   if i not in known]
        if unknown:
            yield place, {"__error__": f"{' and '.join(unknown)} not in the sentence files"}
            continue
        paired_sources.add(source_id)
        paired_targets.add(target_id)
        yield place, {"source_id": source_id, "source": sources[source_id][1],
                      "target_id": target_id, "target": targets[target_id][1]}
    for sentence_id, (place, sentence) in sources.items():
        if sentence_id not in paired_sources:
            yield place, {"source_id": sentence_id, "source": sentence}
    for sentence_id, (place, sentence) in targets.items():
        if sentence_id not in paired_targets:
            yield place, {"target_id": sentence_id, "target": sentence}
