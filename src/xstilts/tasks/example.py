"""One model input as read from a task's rows, and the error a malformed row raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Example:
    """One example; what `texts` and `label` hold depends on the task's format.

    Classification: one or two texts and a label index. Multiple choice: the context (question
    folded in) and the `choices`. Other formats document their own use of both fields (token
    tagging: the tokens and one tag index per token; span extraction: question and context, and
    the gold answers). Everything here must be hashable plain values (str, int, tuples): the
    feature cache keys on their pickled bytes.
    """

    uid: str
    texts: tuple[str, ...]
    label: Any
    choices: tuple[str, ...] = ()


class BadRow(Exception):
    """A row that cannot become an example; the loader adds the row's place to the message."""


def text_field(row: dict[str, Any], name: str) -> str:
    if name not in row:
        raise BadRow(f"missing field '{name}' (fields present: {', '.join(map(str, row))})")
    value = row[name]
    if not isinstance(value, str) or not value or value.isspace():  # isspace: no copy of the text
        raise BadRow(f"field '{name}' is empty or not text")
    return value


def text_list_field(row: dict[str, Any], path: str) -> tuple[str, ...]:
    """A field holding a list of texts; a dotted path reaches into nested fields
    (`choices.text` is row["choices"]["text"])."""
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise BadRow(f"missing field '{path}' (fields present: {', '.join(map(str, row))})")
        value = value[part]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BadRow(f"field '{path}' is not a list of non-empty texts")
    return tuple(value)


def label_index(labels: list[str], value: Any, offset: int = 0) -> int:
    """A label is a name from the spec's list or an integer index into it, counted from
    `offset` (1 for data whose labels are 1-based)."""
    if isinstance(value, str) and value in labels:
        return labels.index(value)
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and 0 <= value - offset < len(labels):
        return value - offset
    allowed = ", ".join(labels) + f" or {offset}..{len(labels) - 1 + offset}"
    raise BadRow(f"label {value!r} is not in the label list ({allowed})")
