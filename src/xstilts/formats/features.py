"""Examples -> features (token ids) through the task's format, remembered on disk."""

from __future__ import annotations

import hashlib
import itertools
import pickle
import weakref

import numpy as np

from xstilts.formats import Feature, Format, get_format
from xstilts.io import cache_root, gc_paused, write_bytes_atomic
from xstilts.tasks.example import Example
from xstilts.tasks.spec import TaskSpec


def encode(examples: list[Example], tokenizer, spec: TaskSpec, max_length: int) -> list[Feature]:
    return get_format(spec.format).encode(spec, examples, tokenizer, max_length)


# Part of every cache key: bump it when a feature's layout changes, so old files are ignored.
_CACHE_FORMAT = 4

_tokenizer_fingerprints: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything that decides token ids (the fast tokenizer's full definition)."""
    if tokenizer not in _tokenizer_fingerprints:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        definition = backend.to_str() if backend is not None else f"{tokenizer.name_or_path}:{len(tokenizer)}"
        _tokenizer_fingerprints[tokenizer] = hashlib.sha256(definition.encode("utf-8")).hexdigest()
    return _tokenizer_fingerprints[tokenizer]


def encode_cached(examples: list[Example], tokenizer, spec: TaskSpec, max_length: int) -> list[Feature]:
    """`encode`, remembered on disk under a hash of the tokenizer, the format's settings, the
    length cap and the examples' content, so a second run on the same data skips tokenization
    and a change to any of them can never return stale ids."""
    fmt = get_format(spec.format)
    return _cached(fmt, spec, fmt.cache_key(spec), examples, tokenizer, max_length)


def encode_sentences_cached(sentences: list[str], tokenizer, max_length: int) -> list[Feature]:
    """Unlabeled sentences of no task (continued MLM), one feature each: token ids as a
    single-sentence classification task would have them."""
    fmt = get_format("single_classification")
    examples = [Example(f"text[{i}]", (text,), 0) for i, text in enumerate(sentences)]
    return _cached(fmt, None, fmt.name, examples, tokenizer, max_length)


def _cached(fmt: Format, spec: TaskSpec | None, key: str, examples: list[Example], tokenizer,
            max_length: int) -> list[Feature]:
    digest = hashlib.sha256(f"{_CACHE_FORMAT}|{tokenizer_fingerprint(tokenizer)}|{key}|{max_length}".encode())
    # pickle: a value's bytes decode back to it, so different examples never share a key (equal
    # ones may differ only in pickle's memo, a harmless miss); 3x faster than repr.
    digest.update(pickle.dumps([(ex.texts, ex.choices, ex.label) for ex in examples], protocol=5))
    path = cache_root() / "features" / f"{digest.hexdigest()}.pkl"
    if path.is_file():
        with gc_paused():
            return _unpack(path.read_bytes())
    features = fmt.encode(spec, examples, tokenizer, max_length)
    write_bytes_atomic(path, _pack(features))
    return features


def _pack(features: list[Feature]) -> bytes:
    """Plain one-sequence features (classification, tagging, retrieval) are stored as columns:
    all ids in one array and the lengths beside them, which load about twice as fast as the
    pickled tuples; other feature types are pickled as they are."""
    if features and all(type(f) is Feature and len(f.input_ids) == 1 for f in features):
        ids = [f.input_ids[0] for f in features]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        return pickle.dumps(("columns", lengths, flat, [f.label for f in features]), protocol=pickle.HIGHEST_PROTOCOL)
    return pickle.dumps(("objects", features), protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> list[Feature]:
    stored = pickle.loads(data)
    if stored[0] == "objects":
        return stored[1]
    _, lengths, flat, labels = stored
    ids, ends = flat.tolist(), np.cumsum(lengths).tolist()
    return [Feature((tuple(ids[end - n:end]),), label) for n, end, label in zip(lengths.tolist(), ends, labels)]
