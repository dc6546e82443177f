"""Unlabeled sentences for continued masked-language modelling: text columns of headerless
.tsv files, text fields of .jsonl files, or the lines of .txt files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from xstilts.errors import XstiltsError
from xstilts.io import text_lines


def unlabeled_sentences(files: Sequence[Path], tsv_columns: Sequence[int], jsonl_fields: Sequence[str],
                        where: str = "") -> list[str]:
    """The sentences of the files, each once, in file order; a malformed line is one line with
    its place (`where` is the config key path of the files' phase)."""
    sentences: dict[str, None] = {}
    for path in files:
        for lineno, line in text_lines(path):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            for text in _texts(path, lineno, line, tsv_columns, jsonl_fields):
                if text.strip():
                    sentences[text.strip()] = None
    if not sentences:
        raise XstiltsError(f"{where}.mlm.files: no text in {', '.join(map(str, files))}")
    return list(sentences)


def _texts(path: Path, lineno: int, line: str, tsv_columns: Sequence[int], jsonl_fields: Sequence[str]) -> list[str]:
    if path.suffix == ".tsv":
        cells = line.split("\t")
        if max(tsv_columns) >= len(cells):
            raise XstiltsError(f"{path}:{lineno}: mlm.tsv_columns {list(tsv_columns)} but the line has "
                               f"{len(cells)} tab-separated fields")
        return [cells[i] for i in tsv_columns]
    if path.suffix == ".jsonl":
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise XstiltsError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        missing = [f for f in jsonl_fields if not isinstance(row, dict) or not isinstance(row.get(f), str)]
        if missing:
            raise XstiltsError(f"{path}:{lineno}: no text field {', '.join(missing)} (mlm.jsonl_fields)")
        return [row[f] for f in jsonl_fields]
    if path.suffix == ".txt":
        return [line]
    raise XstiltsError(f"{path}: unsupported file type '{path.suffix}' for mlm.files; allowed: .tsv, .jsonl, .txt")
