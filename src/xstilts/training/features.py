"""Examples -> token ids, and batches with dynamic padding (each batch padded to its longest)."""

from __future__ import annotations

import hashlib
import pickle
import weakref
from typing import NamedTuple

import torch

from xstilts.io import cache_root, write_bytes_atomic
from xstilts.tasks.data import Example
from xstilts.tasks.spec import TaskFormat


class Feature(NamedTuple):
    """Token ids of one example (a NamedTuple: cached features unpickle several times
    faster than dataclass instances)."""

    # One id list per input; multiple choice has one per choice.
    input_ids: tuple[tuple[int, ...], ...]
    label: int

    @property
    def length(self) -> int:
        return max(len(ids) for ids in self.input_ids)


def encode(examples: list[Example], tokenizer, fmt: TaskFormat, max_length: int) -> list[Feature]:
    """Tokenize in one batched call per input column (fast tokenizers parallelise it)."""
    if fmt == "multiple_choice":
        n_choices = len(examples[0].choices)
        firsts = [ex.texts[0] for ex in examples for _ in range(n_choices)]
        seconds = [choice for ex in examples for choice in ex.choices]
        ids = tokenizer(firsts, seconds, truncation=True, max_length=max_length)["input_ids"]
        return [
            Feature(tuple(tuple(i) for i in ids[k * n_choices:(k + 1) * n_choices]), ex.label)
            for k, ex in enumerate(examples)
        ]
    firsts = [ex.texts[0] for ex in examples]
    seconds = [ex.texts[1] for ex in examples] if fmt == "pair_classification" else None
    ids = tokenizer(firsts, seconds, truncation=True, max_length=max_length)["input_ids"]
    return [Feature((tuple(i),), ex.label) for i, ex in zip(ids, examples)]


# Part of every cache key: bump it when Feature's layout changes, so old files are ignored.
_CACHE_FORMAT = 2

_tokenizer_fingerprints: "weakref.WeakKeyDictionary[object, str]" = weakref.WeakKeyDictionary()


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything that decides token ids (the fast tokenizer's full definition)."""
    if tokenizer not in _tokenizer_fingerprints:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        definition = backend.to_str() if backend is not None else f"{tokenizer.name_or_path}:{len(tokenizer)}"
        _tokenizer_fingerprints[tokenizer] = hashlib.sha256(definition.encode("utf-8")).hexdigest()
    return _tokenizer_fingerprints[tokenizer]


def encode_cached(examples: list[Example], tokenizer, fmt: TaskFormat, max_length: int) -> list[Feature]:
    """`encode`, remembered on disk under a hash of the tokenizer, format, length cap and the
    examples' content, so a second run on the same data skips tokenization and a change to any
    of them can never return stale ids."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}|{tokenizer_fingerprint(tokenizer)}|{fmt}|{max_length}".encode())
    for ex in examples:
        digest.update(repr((ex.texts, ex.choices, ex.label)).encode("utf-8"))
    path = cache_root() / "features" / f"{digest.hexdigest()}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    features = encode(examples, tokenizer, fmt, max_length)
    write_bytes_atomic(path, pickle.dumps(features, protocol=pickle.HIGHEST_PROTOCOL))
    return features


class Collator:
    """Pads a list of features to the longest sequence in the batch."""

    def __init__(self, pad_id: int, multiple_choice: bool):
        self.pad_id = pad_id
        self.multiple_choice = multiple_choice

    def __call__(self, batch: list[Feature]) -> dict[str, torch.Tensor]:
        width = max(f.length for f in batch)
        rows = [ids for f in batch for ids in f.input_ids]
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, ids in enumerate(rows):
            input_ids[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[r, : len(ids)] = 1
        if self.multiple_choice:
            input_ids = input_ids.view(len(batch), -1, width)
            attention_mask = attention_mask.view(len(batch), -1, width)
        labels = torch.tensor([f.label for f in batch], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
