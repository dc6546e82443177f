"""Examples -> features (token ids) through the task's format, remembered on disk."""

from __future__ import annotations

import hashlib
import pickle
import weakref

from xstilts.formats import Feature, Format, get_format
from xstilts.io import cache_root, write_bytes_atomic
from xstilts.tasks.example import Example
from xstilts.tasks.spec import TaskSpec


def _format_of(task: TaskSpec | str) -> tuple[Format, TaskSpec | None]:
    """A task spec, or a bare format name for text that belongs to no task (MLM sentences)."""
    return (get_format(task), None) if isinstance(task, str) else (get_format(task.format), task)


def encode(examples: list[Example], tokenizer, task: TaskSpec | str, max_length: int) -> list[Feature]:
    fmt, spec = _format_of(task)
    return fmt.encode(spec, examples, tokenizer, max_length)


# Part of every cache key: bump it when a feature's layout changes, so old files are ignored.
_CACHE_FORMAT = 3

_tokenizer_fingerprints: "weakref.WeakKeyDictionary[object, str]" = weakref.WeakKeyDictionary()


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything that decides token ids (the fast tokenizer's full definition)."""
    if tokenizer not in _tokenizer_fingerprints:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        definition = backend.to_str() if backend is not None else f"{tokenizer.name_or_path}:{len(tokenizer)}"
        _tokenizer_fingerprints[tokenizer] = hashlib.sha256(definition.encode("utf-8")).hexdigest()
    return _tokenizer_fingerprints[tokenizer]


def encode_cached(examples: list[Example], tokenizer, task: TaskSpec | str, max_length: int) -> list[Feature]:
    """`encode`, remembered on disk under a hash of the tokenizer, the format's settings, the
    length cap and the examples' content, so a second run on the same data skips tokenization
    and a change to any of them can never return stale ids."""
    fmt, spec = _format_of(task)
    key = fmt.cache_key(spec) if spec is not None else fmt.name
    digest = hashlib.sha256(f"{_CACHE_FORMAT}|{tokenizer_fingerprint(tokenizer)}|{key}|{max_length}".encode())
    for ex in examples:
        digest.update(repr((ex.texts, ex.choices, ex.label)).encode("utf-8"))
    path = cache_root() / "features" / f"{digest.hexdigest()}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    features = fmt.encode(spec, examples, tokenizer, max_length)
    write_bytes_atomic(path, pickle.dumps(features, protocol=pickle.HIGHEST_PROTOCOL))
    return features
