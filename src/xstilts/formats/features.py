"""Examples -> features (token ids) through the task's format, remembered on disk."""

from __future__ import annotations

import hashlib
import itertools
import json
import pickle
import weakref

import numpy as np

from xstilts.console import console
from xstilts.formats import Feature, Format, get_format
from xstilts.io import cache_root, gc_paused, write_bytes_atomic
from xstilts.tasks.example import Example
from xstilts.tasks.spec import TaskSpec


def encode(examples: list[Example], tokenizer, spec: TaskSpec, max_length: int) -> list[Feature]:
    return get_format(spec.format).encode(spec, examples, tokenizer, max_length)


# Part of every cache key: bump it when a feature's layout changes, so old files are ignored.
_CACHE_FORMAT = 5

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
    # pickle.dumps (never loads): a value's bytes decode back to it, so different examples never
    # share a key (equal ones may differ only in pickle's memo, a harmless miss); 3x faster than repr.
    digest.update(pickle.dumps([(ex.texts, ex.choices, ex.label) for ex in examples], protocol=5))
    path = cache_root() / "features" / f"{digest.hexdigest()}.features"
    if path.is_file():
        try:
            with gc_paused():
                return unpack_features(path.read_bytes(), fmt.feature_type)
        except (OSError, DamagedEntry) as exc:
            console.print(f"warning: feature cache entry {path} is unusable ({exc}); rebuilding it",
                          markup=False, highlight=False, soft_wrap=True, style="yellow")
    features = fmt.encode(spec, examples, tokenizer, max_length)
    write_bytes_atomic(path, pack_features(features, fmt.feature_type))
    return features


# A cache entry holds nothing that can run code: a JSON header and int64 columns.
#   magic (8 bytes) | sha256 of everything after it (32) | header length (8, little endian)
#   | header JSON {"type", "count", "fields": [[name, depth], ...], "arrays": [size, ...]} | int64 arrays
# A field of depth 0 is one int per feature (one array); depth 1 a tuple of ints (lengths, values);
# depth 2 a tuple of tuples of ints (lengths, inner lengths, values).
_MAGIC = b"XSTFEAT1"
_PREFIX = len(_MAGIC) + 32 + 8


class DamagedEntry(Exception):
    """A cache entry that is truncated, altered or not of the expected feature type."""


def _depth(value) -> int:
    depth = 0
    while isinstance(value, tuple):
        depth += 1
        if not value:
            break
        value = value[0]
    return depth


def pack_features(features: list, feature_type: type) -> bytes:
    """The bytes of a cache entry holding `features` (all of `feature_type`, fields of ints)."""
    arrays: list[np.ndarray] = []
    fields = []
    for index, name in enumerate(feature_type._fields):
        column = [f[index] for f in features]
        depth = max(map(_depth, column), default=0)
        fields.append([name, depth])
        for _ in range(depth):
            arrays.append(np.fromiter(map(len, column), dtype=np.int64, count=len(column)))
            column = list(itertools.chain.from_iterable(column))
        arrays.append(np.fromiter(column, dtype=np.int64, count=len(column)))
    header = json.dumps({"type": feature_type.__name__, "count": len(features), "fields": fields,
                         "arrays": [a.size for a in arrays]}).encode()
    payload = b"".join([len(header).to_bytes(8, "little"), header, *(a.tobytes() for a in arrays)])
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def unpack_features(data: bytes, feature_type: type) -> list:
    """The features of a cache entry; DamagedEntry when its length, checksum or layout is not
    what `pack_features` writes for `feature_type`."""
    if len(data) < _PREFIX or not data.startswith(_MAGIC):
        raise DamagedEntry(f"{len(data)} bytes, not a feature cache entry")
    view = memoryview(data)
    if hashlib.sha256(view[len(_MAGIC) + 32:]).digest() != data[len(_MAGIC):len(_MAGIC) + 32]:
        raise DamagedEntry("checksum mismatch: truncated or altered")
    header_end = _PREFIX + int.from_bytes(data[_PREFIX - 8:_PREFIX], "little")
    try:
        header = json.loads(data[_PREFIX:header_end])
        kind, count, sizes = header["type"], header["count"], header["arrays"]
        depths = {name: depth for name, depth in header["fields"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise DamagedEntry(f"unreadable header: {exc}") from None
    if kind != feature_type.__name__ or list(depths) != list(feature_type._fields):
        raise DamagedEntry(f"holds {kind} features, expected {feature_type.__name__}")
    if not all(type(n) is int and n >= 0 for n in [count, *sizes]) or any(d not in (0, 1, 2) for d in depths.values()):
        raise DamagedEntry("a count, size or depth out of range")
    if len(sizes) != sum(d + 1 for d in depths.values()) or 8 * sum(sizes) != len(data) - header_end:
        raise DamagedEntry("array sizes do not match the entry's length")
    bounds = np.cumsum([header_end] + [8 * s for s in sizes]).tolist()
    arrays = iter(np.frombuffer(view[start:end], dtype=np.int64) for start, end in zip(bounds, bounds[1:]))
    columns = [_column(arrays, depth, count) for depth in depths.values()]
    return list(map(feature_type, *columns))


def _column(arrays, depth: int, count: int) -> list:
    """One field's values for `count` features: its `depth` length arrays, then its values."""
    levels = [next(arrays) for _ in range(depth)]
    values = next(arrays)
    expected = count
    for level in [*levels, values]:
        if len(level) != expected:
            raise DamagedEntry(f"{len(level)} entries where the lengths give {expected}")
        if level is not values:
            if len(level) and level.min() < 0:
                raise DamagedEntry("a negative length")
            expected = int(level.sum())
    column = values.tolist()
    for level in reversed(levels):  # innermost first: group the items into tuples
        items = tuple(column)
        ends = np.cumsum(level)
        column = list(map(items.__getitem__, map(slice, (ends - level).tolist(), ends.tolist())))
    return column
